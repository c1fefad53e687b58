//! The same workload against several embedded engines, in one run: each engine implements
//! [`Store`], and `hashlog-bench peers` drives them with identical keys, values, thread counts
//! and durability, printing one table with the machine named.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hashlog::db::{Engine, EngineOptions};
use hashlog::kv::{Kv, KvWrite};
use hashlog::wal::Durability;
use hdrhistogram::Histogram;

/// What every engine under test offers.
pub trait Store: Send + Sync {
    fn name(&self) -> String;
    /// Writes one key; durable before returning when `sync`.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), String>;
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String>;
}

pub struct Hashlog {
    engine: Engine,
}

impl Hashlog {
    pub fn open(dir: &Path, sync: bool) -> Result<Hashlog, String> {
        let opts = EngineOptions {
            durability: if sync {
                Durability::Sync
            } else {
                Durability::Buffered {
                    interval: std::time::Duration::from_millis(100),
                }
            },
            ..EngineOptions::default()
        };
        let engine = Engine::open(dir, opts).map_err(|e| e.to_string())?;
        engine.create_space(1, 4).map_err(|e| e.to_string())?;
        Ok(Hashlog { engine })
    }
}

impl Store for Hashlog {
    fn name(&self) -> String {
        format!("hashlog ({})", self.engine.io_backend_name())
    }
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.engine
            .write(vec![KvWrite {
                space: 1,
                key: key.to_vec(),
                value: Some(value.to_vec()),
            }])
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.engine.get(1, key).map_err(|e| e.to_string())
    }
}

#[cfg(feature = "peers")]
pub struct Fjall {
    keyspace: fjall::Keyspace,
    part: fjall::PartitionHandle,
    sync: bool,
}

#[cfg(feature = "peers")]
impl Fjall {
    pub fn open(dir: &Path, sync: bool) -> Result<Fjall, String> {
        let keyspace = fjall::Config::new(dir).open().map_err(|e| e.to_string())?;
        let part = keyspace
            .open_partition("items", fjall::PartitionCreateOptions::default())
            .map_err(|e| e.to_string())?;
        Ok(Fjall {
            keyspace,
            part,
            sync,
        })
    }
}

#[cfg(feature = "peers")]
impl Store for Fjall {
    fn name(&self) -> String {
        "fjall 2".into()
    }
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.part.insert(key, value).map_err(|e| e.to_string())?;
        if self.sync {
            self.keyspace
                .persist(fjall::PersistMode::SyncData)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.part
            .get(key)
            .map(|v| v.map(|s| s.to_vec()))
            .map_err(|e| e.to_string())
    }
}

/// RocksDB with its default options (no compression codec compiled in, so none is used).
/// `sync`: every put is written with `WriteOptions::set_sync(true)`, i.e. the WAL is fdatasync'ed
/// before the put returns (concurrent writers share one sync through RocksDB's write group);
/// buffered: WAL on, `set_sync(false)` (the WAL reaches the OS page cache, like the others).
#[cfg(feature = "peers-rocksdb")]
pub struct Rocks {
    db: rocksdb::DB,
    write: rocksdb::WriteOptions,
}

#[cfg(feature = "peers-rocksdb")]
impl Rocks {
    pub fn open(dir: &Path, sync: bool) -> Result<Rocks, String> {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.set_compression_type(rocksdb::DBCompressionType::None);
        let db = rocksdb::DB::open(&opts, dir).map_err(|e| e.to_string())?;
        let mut write = rocksdb::WriteOptions::default();
        write.set_sync(sync);
        write.disable_wal(false);
        Ok(Rocks { db, write })
    }
}

#[cfg(feature = "peers-rocksdb")]
impl Store for Rocks {
    fn name(&self) -> String {
        // librocksdb-sys builds its bundled RocksDB unless ROCKSDB_LIB_DIR names a system one.
        match option_env!("ROCKSDB_LIB_DIR") {
            Some(dir) => format!("rocksdb (system lib in {dir})"),
            None => "rocksdb (bundled 11.8)".into(),
        }
    }
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.db
            .put_opt(key, value, &self.write)
            .map_err(|e| e.to_string())
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.db.get(key).map_err(|e| e.to_string())
    }
}

/// Every engine this build can compare.
pub fn stores(dir: &Path, sync: bool) -> Result<Vec<Box<dyn Store>>, String> {
    #[cfg_attr(not(feature = "peers"), allow(unused_mut))]
    let mut v: Vec<Box<dyn Store>> = vec![Box::new(Hashlog::open(&dir.join("hashlog"), sync)?)];
    #[cfg(feature = "peers")]
    v.push(Box::new(Fjall::open(&dir.join("fjall"), sync)?));
    #[cfg(feature = "peers-rocksdb")]
    v.push(Box::new(Rocks::open(&dir.join("rocksdb"), sync)?));
    Ok(v)
}

pub struct RunResult {
    pub ops_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// `threads` writers put `ops` 1 KiB values (keys spread by a multiplicative hash), then the
/// same number of point reads; returns (write, read) results.
pub fn fill_then_read(
    store: &Arc<dyn Store>,
    threads: usize,
    ops: u64,
    value_size: usize,
) -> Result<(RunResult, RunResult), String> {
    let key = |i: u64| {
        let mut k = i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes().to_vec();
        k.extend_from_slice(format!("user{i:012}").as_bytes());
        k
    };
    let value = vec![b'v'; value_size];
    let mut out = Vec::new();
    for read in [false, true] {
        let next = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        let hs: Vec<_> = (0..threads.max(1))
            .map(|_| {
                let store = Arc::clone(store);
                let next = Arc::clone(&next);
                let value = value.clone();
                std::thread::spawn(move || -> Result<Histogram<u64>, String> {
                    let mut h = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= ops {
                            return Ok(h);
                        }
                        let k = key(i);
                        let s = Instant::now();
                        if read {
                            store.get(&k)?.ok_or("a written key is missing")?;
                        } else {
                            store.put(&k, &value)?;
                        }
                        let _ = h.record(s.elapsed().as_nanos() as u64);
                    }
                })
            })
            .collect();
        let mut hist = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
        for h in hs {
            hist.add(h.join().map_err(|_| "worker panicked")??)
                .map_err(|e| e.to_string())?;
        }
        let secs = t0.elapsed().as_secs_f64();
        out.push(RunResult {
            ops_per_sec: ops as f64 / secs,
            p50_us: hist.value_at_quantile(0.5) as f64 / 1000.0,
            p99_us: hist.value_at_quantile(0.99) as f64 / 1000.0,
        });
    }
    let r = out.pop().ok_or("no read result")?;
    let w = out.pop().ok_or("no write result")?;
    Ok((w, r))
}

//! DynamoDB Streams: one record per actual modification of an item, written in the same atomic
//! batch as the modification (so a record survives a crash exactly when its write does), and the
//! Streams API (ListStreams, DescribeStream, GetShardIterator, GetRecords).
//!
//! Each stream has a keyspace of its own; a record's key is its shard's number (u32
//! big-endian) ‖ its sequence number (u64 big-endian), its value `0x01` ‖ the record's JSON;
//! shard metadata lives in the same keyspace under `FF FF FF FF ‖ shard number`.
//!
//! Shards follow the table's partitions. A stream opens with one shard covering the whole
//! table (as small tables' streams do); when the capacity layer splits a partition (for heat,
//! throughput or size), every open shard that a partition boundary now cuts closes
//! (EndingSequenceNumber = the last record it holds) and each piece of its range opens as a
//! child shard with ParentShardId = the closed shard. Shards only split, never merge (not even
//! when a reopened capacity layer lays partitions out anew), so a consumer that finishes a
//! parent before reading its children sees each item's records in order. Sequence numbers are one counter per stream, so they increase within every shard.
//! Shard metadata is written durably before any record is routed to the new shards.
//!
//! Ordering: sequence numbers are handed out under a small per-stream mutex while the writer
//! holds its item locks, and commits may finish out of order. GetRecords therefore reads only
//! up to the *watermark* — the highest sequence number below which nothing is still in flight —
//! so a reader never skips a record that commits late.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::index::Change;
use super::{storage, Table, Tables};
use crate::api::request::{constraint, Req};
use crate::api::{ApiError, ErrorCode};
use crate::kv::{KvWrite, SpaceId};
use crate::model::{item_size, item_to_json};

/// Records older than this are trimmed.
pub const STREAM_RETENTION_SECS: f64 = 24.0 * 3600.0;
/// A shard iterator is valid this long after GetShardIterator / GetRecords issued it.
const ITERATOR_TTL_SECS: f64 = 15.0 * 60.0;
/// GetRecords returns at most this many records, and at most 1 MB.
const GET_RECORDS_LIMIT_MAX: i64 = 1000;
const GET_RECORDS_BYTES_MAX: usize = 1024 * 1024;
const RECORD_FORMAT_VERSION: u8 = 1;

/// What the catalog stores of a table's stream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamDesc {
    /// KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES.
    pub view_type: String,
    /// The stream label (creation time, ISO 8601 with milliseconds).
    pub label: String,
    pub space: SpaceId,
    /// False once disabled: the stream stays readable, its shard closed.
    pub enabled: bool,
    pub created_at: f64,
    /// When it was disabled.
    #[serde(default)]
    pub disabled_at: Option<f64>,
}

impl StreamDesc {
    pub fn arn(&self, table_arn: &str) -> String {
        format!("{table_arn}/stream/{}", self.label)
    }
}

/// An ISO 8601 label (UTC, milliseconds) for a time in seconds since the epoch.
pub(crate) fn label_of(secs: f64) -> String {
    let ms = (secs * 1000.0) as i64;
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One shard of a stream: the records of one hash range of the table's partition key space,
/// from the sequence number it opened at until the one it closed at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct ShardMeta {
    /// Its number within the stream (the prefix of its records' keys).
    pub no: u32,
    pub id: String,
    pub parent: Option<String>,
    /// The hash range (inclusive) whose items it records.
    pub lo: u64,
    pub hi: u64,
    /// The first sequence number it may hold.
    pub start: u64,
    /// The last sequence number it holds, once closed.
    pub end: Option<u64>,
    pub created_at: f64,
    pub closed_at: Option<f64>,
}

/// Keys of a stream keyspace: shard metadata under this 4-byte prefix, records under their
/// shard's number (never this value).
const META_PREFIX: [u8; 4] = [0xFF; 4];

fn meta_key(no: u32) -> Vec<u8> {
    let mut k = META_PREFIX.to_vec();
    k.extend_from_slice(&no.to_be_bytes());
    k
}

fn record_key(no: u32, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(12);
    k.extend_from_slice(&no.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn record_seq(key: &[u8]) -> Result<u64, ApiError> {
    key.get(4..12)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .filter(|_| key.len() == 12)
        .map(u64::from_be_bytes)
        .ok_or_else(|| ApiError::internal("stream record key is not 12 bytes"))
}

fn decode_record(v: &[u8]) -> Result<(&[u8], Value), ApiError> {
    let body = match v.split_first() {
        Some((&RECORD_FORMAT_VERSION, rest)) => rest,
        _ => return Err(ApiError::internal("stream record has an unknown format")),
    };
    let rec = serde_json::from_slice(body)
        .map_err(|e| ApiError::internal(format!("stream record is corrupt: {e}")))?;
    Ok((body, rec))
}

/// The mutable state of one stream.
#[derive(Debug)]
struct Inner {
    /// The next sequence number to hand out.
    next: u64,
    /// Sequence numbers handed out whose batches have not finished yet.
    inflight: BTreeSet<u64>,
    /// Every retained shard, by number.
    shards: Vec<ShardMeta>,
    /// The last sequence number each shard holds (or was handed for it).
    last_in: HashMap<u32, u64>,
    /// The capacity layout version the open shards follow (`None` until first seen).
    epoch: Option<Option<u64>>,
}

impl Inner {
    fn open_shard_for(&self, hash: u64) -> Option<&ShardMeta> {
        self.shards
            .iter()
            .find(|s| s.end.is_none() && s.lo <= hash && hash <= s.hi)
    }

    fn shard(&self, id: &str) -> Option<&ShardMeta> {
        self.shards.iter().find(|s| s.id == id)
    }

    fn new_shard(&mut self, lo: u64, hi: u64, parent: Option<String>, now: f64) -> ShardMeta {
        let no = self.shards.iter().map(|s| s.no + 1).max().unwrap_or(0);
        ShardMeta {
            no,
            id: format!("shardId-{:020}-{:08x}", (now * 1000.0) as u64, no),
            parent,
            lo,
            hi,
            start: self.next,
            end: None,
            created_at: now,
            closed_at: None,
        }
    }
}

/// Sequence numbers and shards of one stream.
#[derive(Debug)]
pub(crate) struct StreamState {
    inner: Mutex<Inner>,
}

impl StreamState {
    /// The highest sequence number at or below which every record is committed (or failed).
    fn watermark(&self) -> u64 {
        let g = self.inner.lock();
        match g.inflight.first() {
            Some(m) => m - 1,
            None => g.next - 1,
        }
    }
}

/// A sequence number in flight: released when dropped, after its batch committed or failed.
#[derive(Debug)]
pub(crate) struct StreamTicket {
    state: Arc<StreamState>,
    seq: u64,
}

impl Drop for StreamTicket {
    fn drop(&mut self) {
        self.state.inner.lock().inflight.remove(&self.seq);
    }
}

/// A sequence number as the API shows it: decimal, zero-padded to 21 digits so the strings
/// order as the numbers do.
fn seq_str(seq: u64) -> String {
    format!("{seq:021}")
}

fn stream_not_found(arn: &str) -> ApiError {
    ApiError::not_found(format!(
        "Requested resource not found: Stream: {arn} not found"
    ))
}

fn shard_not_found(shard: &str) -> ApiError {
    ApiError::not_found(format!(
        "Requested resource not found: Shard does not exist: {shard}"
    ))
}

impl Tables {
    /// The state of a stream (loaded on first use: its shards from their metadata, the next
    /// sequence number from the last stored record, and a first shard for a new stream).
    fn stream_state(&self, sd: &StreamDesc) -> Result<Arc<StreamState>, ApiError> {
        if let Some(s) = self.streams.lock().get(&sd.space) {
            return Ok(Arc::clone(s));
        }
        let loaded = self.load_stream(sd)?;
        let mut map = self.streams.lock();
        let s = map.entry(sd.space).or_insert_with(|| {
            Arc::new(StreamState {
                inner: Mutex::new(loaded),
            })
        });
        Ok(Arc::clone(s))
    }

    fn load_stream(&self, sd: &StreamDesc) -> Result<Inner, ApiError> {
        let mut shards = Vec::new();
        for kv in self
            .kv
            .scan(
                sd.space,
                Bound::Included(META_PREFIX.to_vec()),
                Bound::Unbounded,
                false,
            )
            .map_err(storage)?
        {
            let (_, v) = kv.map_err(storage)?;
            let m: ShardMeta = serde_json::from_slice(&v).map_err(|e| {
                ApiError::internal(format!("stream shard metadata is corrupt: {e}"))
            })?;
            shards.push(m);
        }
        if shards.is_empty() {
            if let Some(legacy) = self.migrate_single_shard_stream(sd)? {
                shards.push(legacy);
            }
        }
        shards.sort_by_key(|s| s.no);
        let mut inner = Inner {
            next: 1,
            inflight: BTreeSet::new(),
            shards,
            last_in: HashMap::new(),
            epoch: None,
        };
        for s in &inner.shards {
            let last = self.last_record(sd.space, s.no)?;
            if let Some(l) = last {
                inner.last_in.insert(s.no, l);
            }
            let top = last
                .unwrap_or(0)
                .max(s.start.saturating_sub(1))
                .max(s.end.unwrap_or(0));
            inner.next = inner.next.max(top + 1);
        }
        if inner.shards.is_empty() {
            let first = inner.new_shard(0, u64::MAX, None, sd.created_at.max(0.0));
            self.put_shards(sd.space, std::slice::from_ref(&first))?;
            inner.shards.push(first);
        }
        Ok(inner)
    }

    /// Streams written before shards existed kept their records under 8-byte keys (one shard):
    /// rewrites them as shard 0 under the id that shard always had.
    fn migrate_single_shard_stream(&self, sd: &StreamDesc) -> Result<Option<ShardMeta>, ApiError> {
        let mut legacy = Vec::new();
        for kv in self
            .kv
            .scan(sd.space, Bound::Unbounded, Bound::Unbounded, false)
            .map_err(storage)?
        {
            let (k, v) = kv.map_err(storage)?;
            if let Ok(b) = <[u8; 8]>::try_from(k.as_slice()) {
                legacy.push((u64::from_be_bytes(b), k, v));
            }
        }
        let Some(first) = legacy.first().map(|l| l.0) else {
            return Ok(None);
        };
        let shard = ShardMeta {
            no: 0,
            id: format!(
                "shardId-{:020}-{:08x}",
                (sd.created_at * 1000.0) as u64,
                sd.space
            ),
            parent: None,
            lo: 0,
            hi: u64::MAX,
            start: first,
            end: None,
            created_at: sd.created_at,
            closed_at: None,
        };
        let mut writes = vec![KvWrite {
            space: sd.space,
            key: meta_key(0),
            value: Some(serde_json::to_vec(&shard).map_err(|e| ApiError::internal(e.to_string()))?),
        }];
        for (seq, k, v) in legacy {
            writes.push(KvWrite {
                space: sd.space,
                key: k,
                value: None,
            });
            writes.push(KvWrite {
                space: sd.space,
                key: record_key(0, seq),
                value: Some(v),
            });
        }
        self.kv.write(writes).map_err(storage)?;
        Ok(Some(shard))
    }

    /// The first (or, `last`, the last) sequence number stored in a shard.
    fn edge_record(&self, space: SpaceId, no: u32, last: bool) -> Result<Option<u64>, ApiError> {
        self.kv
            .scan(
                space,
                Bound::Included(record_key(no, 0)),
                Bound::Included(record_key(no, u64::MAX)),
                last,
            )
            .map_err(storage)?
            .next()
            .transpose()
            .map_err(storage)?
            .map(|(k, _)| record_seq(&k))
            .transpose()
    }

    fn last_record(&self, space: SpaceId, no: u32) -> Result<Option<u64>, ApiError> {
        self.edge_record(space, no, true)
    }

    /// Persists shard metadata (before any record is routed to a new shard).
    fn put_shards(&self, space: SpaceId, shards: &[ShardMeta]) -> Result<(), ApiError> {
        let mut writes = Vec::with_capacity(shards.len());
        for s in shards {
            writes.push(KvWrite {
                space,
                key: meta_key(s.no),
                value: Some(serde_json::to_vec(s).map_err(|e| ApiError::internal(e.to_string()))?),
            });
        }
        self.kv.write(writes).map_err(storage)?;
        Ok(())
    }

    /// Makes the open shards follow the table's partitions: once the capacity layer's partition
    /// map changes, every open shard that a partition boundary now cuts closes, and each piece
    /// opens as a child shard of it.
    fn align_shards(&self, t: &Table, sd: &StreamDesc, inner: &mut Inner) -> Result<(), ApiError> {
        let cap = self.capacity_of(t);
        let epoch = cap.as_ref().map(|c| c.layout_epoch());
        match inner.epoch {
            None => {
                inner.epoch = Some(epoch);
                return Ok(());
            }
            Some(e) if e == epoch => return Ok(()),
            Some(_) => {}
        }
        // Shards only ever split (a reopened capacity layer may lay its partitions out anew,
        // but a shard's children always lie inside it, so one parent per child keeps every
        // item's records in lineage order): each open shard is cut at every partition start
        // inside its range.
        let starts: Vec<u64> = match &cap {
            Some(c) => c.ranges().into_iter().map(|(lo, _)| lo).collect(),
            None => Vec::new(),
        };
        let now = now_secs();
        let mut changed = Vec::new();
        let mut born = Vec::new();
        for s in inner.shards.iter_mut().filter(|s| s.end.is_none()) {
            let mut cuts: Vec<u64> = starts
                .iter()
                .copied()
                .filter(|&x| x > s.lo && x <= s.hi)
                .collect();
            if cuts.is_empty() {
                continue;
            }
            cuts.sort_unstable();
            let mut lo = s.lo;
            for c in cuts {
                born.push((lo, c - 1, s.id.clone()));
                lo = c;
            }
            born.push((lo, s.hi, s.id.clone()));
            let last = inner.last_in.get(&s.no).copied();
            let floor = s.start.saturating_sub(1);
            s.end = Some(last.unwrap_or(floor).max(floor));
            s.closed_at = Some(now);
            changed.push(s.clone());
        }
        for (lo, hi, parent) in born {
            let child = inner.new_shard(lo, hi, Some(parent), now);
            inner.shards.push(child.clone());
            changed.push(child);
        }
        self.put_shards(sd.space, &changed)?;
        inner.epoch = Some(epoch);
        Ok(())
    }

    /// Appends the stream record of one item change (none when the table has no enabled stream
    /// or nothing changed); keep the returned ticket until the batch is committed.
    pub(crate) fn stream_write(
        &self,
        t: &Table,
        change: Change<'_>,
        identity: Option<&Value>,
        writes: &mut Vec<KvWrite>,
    ) -> Result<Option<StreamTicket>, ApiError> {
        let Some(sd) = t.desc.stream.as_ref().filter(|s| s.enabled) else {
            return Ok(None);
        };
        let (name, keys_of) = match (change.old, change.new) {
            (None, None) => return Ok(None),
            (Some(o), Some(n)) if o == n => return Ok(None),
            (None, Some(n)) => ("INSERT", n),
            (Some(o), None) => ("REMOVE", o),
            (Some(_), Some(n)) => ("MODIFY", n),
        };
        let keys = t.schema.extract_key(keys_of)?;
        let mut size = item_size(&keys);
        let mut body = json!({
            // "Rounded down to the closest second", as the StreamRecord reference says.
            "ApproximateCreationDateTime": now_secs().floor(),
            "Keys": item_to_json(&keys),
            "StreamViewType": sd.view_type,
        });
        let view = sd.view_type.as_str();
        if matches!(view, "NEW_IMAGE" | "NEW_AND_OLD_IMAGES") {
            if let Some(n) = change.new {
                size += item_size(n);
                body["NewImage"] = item_to_json(n);
            }
        }
        if matches!(view, "OLD_IMAGE" | "NEW_AND_OLD_IMAGES") {
            if let Some(o) = change.old {
                size += item_size(o);
                body["OldImage"] = item_to_json(o);
            }
        }
        body["SizeBytes"] = json!(size);
        let state = self.stream_state(sd)?;
        let hash = crate::key::routing_hash(change.base_key);
        let (seq, shard) = {
            let mut g = state.inner.lock();
            self.align_shards(t, sd, &mut g)?;
            let shard = g
                .open_shard_for(hash)
                .map(|s| s.no)
                .ok_or_else(|| ApiError::internal("stream has no open shard for the item"))?;
            let seq = g.next;
            g.next += 1;
            g.inflight.insert(seq);
            g.last_in.insert(shard, seq);
            (seq, shard)
        };
        let ticket = StreamTicket { state, seq };
        body["SequenceNumber"] = json!(seq_str(seq));
        let mut record = json!({
            "eventID": format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&[&sd.space.to_le_bytes()[..], &seq.to_le_bytes()].concat())),
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self.opts.region,
            "dynamodb": body,
        });
        if let Some(id) = identity {
            record["userIdentity"] = id.clone();
        }
        let mut value = vec![RECORD_FORMAT_VERSION];
        serde_json::to_writer(&mut value, &record)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        writes.push(KvWrite {
            space: sd.space,
            key: record_key(shard, seq),
            value: Some(value),
        });
        Ok(Some(ticket))
    }

    /// The table and stream a StreamArn names.
    fn stream_by_arn(&self, arn: &str) -> Result<(Arc<Table>, StreamDesc), ApiError> {
        if arn.len() < 37 || arn.len() > 1024 {
            return Err(constraint(
                arn,
                "streamArn",
                if arn.len() < 37 {
                    "Member must have length greater than or equal to 37"
                } else {
                    "Member must have length less than or equal to 1024"
                },
            ));
        }
        // The catalog's read lock is held while `deleted` is read: DeleteTable moves a table
        // from one to the other under the catalog's write lock.
        let (live, deleted) = {
            let catalog = self.catalog.read();
            let deleted = self.deleted.read().clone();
            (catalog.values().cloned().collect::<Vec<_>>(), deleted)
        };
        for t in live.iter().chain(&deleted) {
            for sd in t.desc.stream.iter().chain(&t.desc.old_streams) {
                if sd.arn(&t.desc.arn(&self.opts.region, &self.opts.account_id)) == arn {
                    return Ok((Arc::clone(t), sd.clone()));
                }
            }
        }
        Err(stream_not_found(arn))
    }

    pub(crate) fn list_streams(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let table = r.str("TableName")?;
        let limit = r.i64("Limit")?.unwrap_or(100);
        if !(1..=100).contains(&limit) {
            return Err(constraint(
                &limit.to_string(),
                "limit",
                if limit < 1 {
                    "Member must have value greater than or equal to 1"
                } else {
                    "Member must have value less than or equal to 100"
                },
            ));
        }
        let start = r.str("ExclusiveStartStreamArn")?;
        let tables: Vec<Arc<Table>> = {
            let catalog = self.catalog.read();
            let deleted = self.deleted.read();
            catalog.values().chain(deleted.iter()).cloned().collect()
        };
        let mut all: Vec<(String, String, String)> = tables
            .iter()
            .filter(|t| table.is_none_or(|n| t.name() == n))
            .flat_map(|t| {
                t.desc.stream.iter().chain(&t.desc.old_streams).map(|sd| {
                    let arn = sd.arn(&t.desc.arn(&self.opts.region, &self.opts.account_id));
                    (arn, t.name().to_string(), sd.label.clone())
                })
            })
            .collect();
        all.sort();
        let mut it = all
            .into_iter()
            .filter(|(a, _, _)| start.is_none_or(|s| a.as_str() > s));
        let page: Vec<(String, String, String)> = it.by_ref().take(limit as usize).collect();
        let mut out = json!({"Streams": page.iter().map(|(a, t, l)| json!({"StreamArn": a, "TableName": t, "StreamLabel": l})).collect::<Vec<_>>()});
        if it.next().is_some() {
            if let Some((a, _, _)) = page.last() {
                out["LastEvaluatedStreamArn"] = json!(a);
            }
        }
        Ok(out)
    }

    /// The last sequence number a shard holds, if it is closed or its stream disabled (a shard
    /// that will get no more records).
    fn shard_end(sd: &StreamDesc, inner: &Inner, s: &ShardMeta) -> Option<u64> {
        s.end.or_else(|| {
            (!sd.enabled).then(|| {
                inner
                    .last_in
                    .get(&s.no)
                    .copied()
                    .unwrap_or(s.start.saturating_sub(1))
            })
        })
    }

    pub(crate) fn describe_stream(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let arn = r.req_str("StreamArn")?;
        let limit = r.i64("Limit")?.unwrap_or(100);
        if !(1..=100).contains(&limit) {
            return Err(constraint(
                &limit.to_string(),
                "limit",
                if limit < 1 {
                    "Member must have value greater than or equal to 1"
                } else {
                    "Member must have value less than or equal to 100"
                },
            ));
        }
        let after = r.str("ExclusiveStartShardId")?;
        // ShardFilter {Type: CHILD_SHARDS, ShardId}: only the shards whose parent is ShardId.
        let parent_filter = match r.object("ShardFilter")? {
            None => None,
            Some(f) => {
                match f.get("Type").and_then(Value::as_str) {
                    Some("CHILD_SHARDS") => {}
                    other => {
                        return Err(constraint(
                            other.unwrap_or("null"),
                            "shardFilter.type",
                            "Member must satisfy enum value set: [CHILD_SHARDS]",
                        ))
                    }
                }
                let Some(id) = f.get("ShardId").and_then(Value::as_str) else {
                    return Err(ApiError::validation(
                        "1 validation error detected: Value null at 'shardFilter.shardId' failed to satisfy constraint: Member must not be null",
                    ));
                };
                Some(id.to_string())
            }
        };
        let (t, sd) = self.stream_by_arn(arn)?;
        let state = self.stream_state(&sd)?;
        let all: Vec<(ShardMeta, Option<u64>)> = {
            let g = state.inner.lock();
            g.shards
                .iter()
                .map(|s| (s.clone(), Self::shard_end(&sd, &g, s)))
                .collect()
        };
        // ExclusiveStartShardId is found among all shards, then the filter applies: a start
        // shard that is not itself a child still moves the page on.
        let from = match after {
            Some(a) => all.iter().position(|(s, _)| s.id == a).map_or(0, |i| i + 1),
            None => 0,
        };
        let shards: Vec<(ShardMeta, Option<u64>)> = all
            .into_iter()
            .skip(from)
            .filter(|(s, _)| {
                parent_filter
                    .as_ref()
                    .is_none_or(|p| s.parent.as_ref() == Some(p))
            })
            .collect();
        let mut listed = Vec::new();
        let mut last_id = None;
        for (s, end) in shards.iter().take(limit as usize) {
            let first = self.edge_record(sd.space, s.no, false)?;
            let mut range = json!({"StartingSequenceNumber": seq_str(first.unwrap_or(s.start))});
            if let Some(e) = end {
                range["EndingSequenceNumber"] = json!(seq_str(*e));
            }
            let mut shard = json!({"ShardId": s.id, "SequenceNumberRange": range});
            if let Some(p) = &s.parent {
                shard["ParentShardId"] = json!(p);
            }
            listed.push(shard);
            last_id = Some(s.id.clone());
        }
        let mut desc = json!({
            "StreamArn": arn,
            "StreamLabel": sd.label,
            "StreamStatus": if sd.enabled { "ENABLED" } else { "DISABLED" },
            "StreamViewType": sd.view_type,
            "CreationRequestDateTime": sd.created_at,
            "TableName": t.name(),
            "KeySchema": t.schema.to_json(),
            "Shards": listed,
        });
        if (limit as usize) < shards.len() {
            if let Some(id) = last_id {
                desc["LastEvaluatedShardId"] = json!(id);
            }
        }
        Ok(json!({ "StreamDescription": desc }))
    }

    fn iterator(arn: &str, shard: &str, position: u64) -> String {
        format!("{}|{arn}|{shard}|{position}", (now_secs() * 1000.0) as u64)
    }

    pub(crate) fn get_shard_iterator(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let arn = r.req_str("StreamArn")?;
        let shard_id = r.req_str("ShardId")?;
        let kind = r
            .enum_str(
                "ShardIteratorType",
                &[
                    "TRIM_HORIZON",
                    "LATEST",
                    "AT_SEQUENCE_NUMBER",
                    "AFTER_SEQUENCE_NUMBER",
                    "AT_TIMESTAMP",
                ],
            )?
            .ok_or_else(|| Req::missing("ShardIteratorType"))?;
        let seq = r.str("SequenceNumber")?;
        let (_, sd) = self.stream_by_arn(arn)?;
        let state = self.stream_state(&sd)?;
        let (shard, end) = {
            let g = state.inner.lock();
            let s = g.shard(shard_id).ok_or_else(|| shard_not_found(shard_id))?;
            (s.clone(), Self::shard_end(&sd, &g, s))
        };
        let parse_seq = || -> Result<u64, ApiError> {
            let s = seq.ok_or_else(|| {
                ApiError::validation(format!(
                    "Must specify a sequence number for iterator type {kind}"
                ))
            })?;
            s.parse::<u64>()
                .map_err(|_| ApiError::validation(format!("Invalid SequenceNumber: {s}")))
        };
        let latest = match end {
            Some(e) => e + 1,
            None => (state.watermark() + 1).max(shard.start),
        };
        let position = match kind {
            "TRIM_HORIZON" => shard.start,
            "LATEST" => latest,
            "AT_TIMESTAMP" => {
                // The first record created at or after Timestamp (epoch seconds); none yet:
                // where the next one will be.
                let ts = match r.get("Timestamp") {
                    Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::MAX),
                    Some(v) => {
                        return Err(ApiError::serialization(format!(
                            "{} cannot be converted to Timestamp",
                            if v.is_string() {
                                "VALUE_STRING"
                            } else {
                                "value"
                            }
                        )))
                    }
                    None => {
                        return Err(ApiError::validation(
                            "Must specify a timestamp for iterator type AT_TIMESTAMP",
                        ))
                    }
                };
                // Only records below `latest` (the shard's end, or the watermark of an open
                // one): past it a record may still be committing, and an iterator started
                // after it would skip it for good.
                let mut at = latest;
                for kv in self
                    .kv
                    .scan(
                        sd.space,
                        Bound::Included(record_key(shard.no, 0)),
                        Bound::Excluded(record_key(shard.no, latest)),
                        false,
                    )
                    .map_err(storage)?
                {
                    let (k, v) = kv.map_err(storage)?;
                    let (_, rec) = decode_record(&v)?;
                    let created = rec["dynamodb"]["ApproximateCreationDateTime"]
                        .as_f64()
                        .unwrap_or(0.0);
                    if created >= ts.floor() {
                        let mut seq = [0u8; 8];
                        if let Some(tail) = k.get(4..12) {
                            seq.copy_from_slice(tail);
                        }
                        at = u64::from_be_bytes(seq);
                        break;
                    }
                }
                at
            }
            _ => {
                let n = parse_seq()?;
                if n < shard.start || end.is_some_and(|e| n > e) {
                    return Err(ApiError::validation(format!(
                        "Invalid SequenceNumber for shard {shard_id}: {n} is not in the shard's range"
                    )));
                }
                if let Some(first) = self.edge_record(sd.space, shard.no, false)? {
                    if n < first && first > shard.start {
                        return Err(ApiError::new(
                            ErrorCode::TrimmedDataAccessException,
                            // DynamoDB's words for it, as the service answers them.
                            "The data you are trying to access has been trimmed.",
                        ));
                    }
                }
                if kind == "AT_SEQUENCE_NUMBER" {
                    n
                } else {
                    n + 1
                }
            }
        };
        Ok(json!({"ShardIterator": Self::iterator(arn, shard_id, position)}))
    }

    pub(crate) fn get_records(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let it = r.req_str("ShardIterator")?;
        let limit = r.i64("Limit")?.unwrap_or(GET_RECORDS_LIMIT_MAX);
        if !(1..=GET_RECORDS_LIMIT_MAX).contains(&limit) {
            return Err(constraint(
                &limit.to_string(),
                "limit",
                if limit < 1 {
                    "Member must have value greater than or equal to 1"
                } else {
                    "Member must have value less than or equal to 1000"
                },
            ));
        }
        let invalid = || ApiError::validation("Invalid ShardIterator");
        let mut parts = it.split('|');
        let (Some(issued), Some(arn), Some(shard_id), Some(pos), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(invalid());
        };
        let issued: u64 = issued.parse().map_err(|_| invalid())?;
        let mut pos: u64 = pos.parse().map_err(|_| invalid())?;
        let now = now_secs();
        if now - issued as f64 / 1000.0 > ITERATOR_TTL_SECS {
            return Err(ApiError::new(
                ErrorCode::ExpiredIteratorException,
                "Iterator expired. The iterator was created more than 15 minutes ago",
            ));
        }
        let (_, sd) = self.stream_by_arn(arn)?;
        let state = self.stream_state(&sd)?;
        let (shard, end) = {
            let g = state.inner.lock();
            let s = g.shard(shard_id).ok_or_else(invalid)?;
            (s.clone(), Self::shard_end(&sd, &g, s))
        };
        let upper = state.watermark().min(end.unwrap_or(u64::MAX));
        let mut records = Vec::new();
        let mut bytes = 0usize;
        if pos <= upper {
            let scan = self
                .kv
                .scan(
                    sd.space,
                    Bound::Included(record_key(shard.no, pos)),
                    Bound::Included(record_key(shard.no, upper)),
                    false,
                )
                .map_err(storage)?;
            for kv in scan {
                let (k, v) = kv.map_err(storage)?;
                let seq = record_seq(&k)?;
                let (body, rec) = decode_record(&v)?;
                bytes += body.len();
                records.push(rec);
                pos = seq + 1;
                if records.len() as i64 >= limit || bytes >= GET_RECORDS_BYTES_MAX {
                    break;
                }
            }
            if records.len() < limit as usize && bytes < GET_RECORDS_BYTES_MAX {
                // Everything up to `upper` was read (sequence numbers of other shards and of
                // failed batches leave gaps).
                pos = pos.max(upper + 1);
            }
        }
        let mut out = json!({"Records": records});
        // A closed shard (or a disabled stream's), once drained, has no next iterator.
        if end.is_none_or(|e| pos <= e) {
            out["NextShardIterator"] = json!(Self::iterator(arn, shard_id, pos));
        }
        Ok(out)
    }

    /// Deletes stream records older than the retention period, and the metadata of closed
    /// shards left empty for that long; returns how many records.
    pub(crate) fn trim_streams(&self, now: f64) -> Result<usize, ApiError> {
        let tables: Vec<Arc<Table>> = {
            let catalog = self.catalog.read();
            let deleted = self.deleted.read();
            catalog.values().chain(deleted.iter()).cloned().collect()
        };
        let streams: Vec<StreamDesc> = tables
            .iter()
            .flat_map(|t| {
                t.desc
                    .stream
                    .iter()
                    .chain(&t.desc.old_streams)
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut trimmed = 0;
        for sd in streams {
            let state = self.stream_state(&sd)?;
            let shards: Vec<ShardMeta> = state.inner.lock().shards.clone();
            for s in shards {
                let mut dead = Vec::new();
                let mut emptied = true;
                for kv in self
                    .kv
                    .scan(
                        sd.space,
                        Bound::Included(record_key(s.no, 0)),
                        Bound::Included(record_key(s.no, u64::MAX)),
                        false,
                    )
                    .map_err(storage)?
                {
                    let (k, v) = kv.map_err(storage)?;
                    let at = decode_record(&v)
                        .map(|(_, rec)| {
                            rec["dynamodb"]["ApproximateCreationDateTime"]
                                .as_f64()
                                .unwrap_or(0.0)
                        })
                        .unwrap_or(0.0);
                    if now - at <= STREAM_RETENTION_SECS || dead.len() >= 10_000 {
                        emptied = false;
                        break;
                    }
                    dead.push(KvWrite {
                        space: sd.space,
                        key: k,
                        value: None,
                    });
                }
                trimmed += dead.len();
                let expired_shard =
                    emptied && s.closed_at.is_some_and(|c| now - c > STREAM_RETENTION_SECS);
                if expired_shard {
                    dead.push(KvWrite {
                        space: sd.space,
                        key: meta_key(s.no),
                        value: None,
                    });
                }
                if !dead.is_empty() {
                    self.kv.write(dead).map_err(storage)?;
                }
                if expired_shard {
                    state.inner.lock().shards.retain(|x| x.no != s.no);
                }
            }
        }
        Ok(trimmed)
    }
}

/// Parsed `StreamSpecification`: `Some(view type)` to enable, `None` to disable.
pub(crate) fn parse_stream_spec(r: &Req<'_>) -> Result<Option<Option<String>>, ApiError> {
    let Some(s) = r.object("StreamSpecification")? else {
        return Ok(None);
    };
    let sr = Req { obj: s };
    let enabled = sr
        .bool("StreamEnabled")?
        .ok_or_else(|| Req::missing_at("streamSpecification.streamEnabled"))?;
    let view = sr.enum_str(
        "StreamViewType",
        &["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"],
    )?;
    match (enabled, view) {
        (true, None) => Err(ApiError::validation(
            "One or more parameter values were invalid: Enabled StreamSpecification must have StreamViewType set",
        )),
        (true, Some(v)) => Ok(Some(Some(v.to_string()))),
        (false, Some(_)) => Err(ApiError::validation(
            "One or more parameter values were invalid: Disabled StreamSpecification should not have StreamViewType set",
        )),
        (false, None) => Ok(Some(None)),
    }
}

/// `HashMap` type of the per-stream state cache.
pub(crate) type StreamStates = Mutex<HashMap<SpaceId, Arc<StreamState>>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_iso_8601() {
        assert_eq!(label_of(0.0), "1970-01-01T00:00:00.000");
        assert_eq!(label_of(1_795_000_000.123), "2026-11-18T11:06:40.123");
        assert_eq!(label_of(951_782_400.0), "2000-02-29T00:00:00.000");
    }

    #[test]
    fn tickets_hold_the_watermark_back_until_dropped() {
        let state = Arc::new(StreamState {
            inner: Mutex::new(Inner {
                next: 5,
                inflight: BTreeSet::new(),
                shards: Vec::new(),
                last_in: HashMap::new(),
                epoch: None,
            }),
        });
        assert_eq!(state.watermark(), 4);
        let take = |s: &Arc<StreamState>| {
            let mut g = s.inner.lock();
            let seq = g.next;
            g.next += 1;
            g.inflight.insert(seq);
            StreamTicket {
                state: Arc::clone(s),
                seq,
            }
        };
        let a = take(&state);
        let b = take(&state);
        assert_eq!(state.watermark(), 4);
        drop(b);
        assert_eq!(state.watermark(), 4, "5 is still in flight");
        drop(a);
        assert_eq!(state.watermark(), 6);
    }
}

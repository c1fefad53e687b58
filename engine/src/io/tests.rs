//! Conformance tests every backend passes: the same calls, the same bytes, the same errors.

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use super::std_backend::StdBackend;
use super::uring::{UringBackend, UringOptions};
use super::{IoBackend, IoFile, OpenOptions};

fn backends() -> Vec<Arc<dyn IoBackend>> {
    let mut v: Vec<Arc<dyn IoBackend>> = vec![Arc::new(StdBackend::new())];
    // Both ways of syncing: direct fdatasync after the ring's write, and the linked
    // write+fsync submission.
    for all_ops_via_ring in [false, true] {
        match UringBackend::with_options(UringOptions {
            rings: 2,
            entries: 8,
            all_ops_via_ring,
        }) {
            Ok(u) => v.push(Arc::new(u)),
            Err(e) => eprintln!("io_uring unavailable, testing std only: {e}"),
        }
    }
    v
}

fn each_backend(f: impl Fn(&dyn IoBackend, &Path)) {
    for b in backends() {
        let dir = tempfile::tempdir().expect("tempdir");
        f(b.as_ref(), dir.path());
    }
}

#[test]
fn written_bytes_read_back() {
    each_backend(|io, dir| {
        let p = dir.join("a");
        let f = io.open(&p, OpenOptions::create_new()).expect("create");
        assert_eq!(f.len().expect("len"), 0);
        f.write_all_at(b"hello world", 0).expect("write");
        f.write_all_at(b"W", 6).expect("overwrite");
        f.write_all_at_and_sync(b"!!", 11).expect("write+sync");
        assert_eq!(f.len().expect("len"), 13, "{}", io.name());
        let mut buf = [0u8; 13];
        f.read_exact_at(&mut buf, 0).expect("read");
        assert_eq!(&buf, b"hello World!!");
        f.sync_data().expect("sync_data");
        f.sync_all().expect("sync_all");
        drop(f);
        let g = io.open(&p, OpenOptions::read_only()).expect("reopen");
        let mut buf = [0u8; 5];
        g.read_exact_at(&mut buf, 6).expect("read");
        assert_eq!(&buf, b"World");
    });
}

#[test]
fn reading_past_the_end_is_unexpected_eof() {
    each_backend(|io, dir| {
        let f = io
            .open(&dir.join("a"), OpenOptions::create_new())
            .expect("create");
        f.write_all_at(b"abc", 0).expect("write");
        let mut buf = [0u8; 4];
        let e = f.read_exact_at(&mut buf, 0).expect_err("short file");
        assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{}", io.name());
        let e = f.read_exact_at(&mut buf, 100).expect_err("past end");
        assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{}", io.name());
    });
}

/// Reads every `bufs[i]` at `offsets[i]` in one `read_many` and checks it against `data`.
fn read_and_check(
    io: &dyn IoBackend,
    f: &dyn IoFile,
    offsets: &[u64],
    bufs: &mut [Vec<u8>],
    data: &[u8],
) {
    {
        let mut reqs: Vec<(u64, &mut [u8])> = offsets
            .iter()
            .copied()
            .zip(bufs.iter_mut().map(|b| b.as_mut_slice()))
            .collect();
        f.read_many(&mut reqs).expect("read_many");
    }
    for (off, b) in offsets.iter().zip(bufs.iter()) {
        let o = *off as usize;
        assert_eq!(&b[..], &data[o..o + b.len()], "{}", io.name());
    }
}

#[test]
fn read_many_fills_every_range() {
    each_backend(|io, dir| {
        let f = io
            .open(&dir.join("a"), OpenOptions::create_new())
            .expect("create");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        f.write_all_at(&data, 0).expect("write");
        // More ranges than the ring has entries, so submission goes in several rounds.
        let mut bufs: Vec<Vec<u8>> = (0..40).map(|i| vec![0u8; 100 + i * 37]).collect();
        let offsets: Vec<u64> = (0..40).map(|i| (i * 2011) as u64).collect();
        read_and_check(io, f.as_ref(), &offsets, &mut bufs, &data);
        let mut empty: Vec<(u64, &mut [u8])> = Vec::new();
        f.read_many(&mut empty).expect("empty batch");
        let mut tail = vec![0u8; 10];
        let mut reqs: Vec<(u64, &mut [u8])> = vec![(99_995, tail.as_mut_slice())];
        assert_eq!(
            f.read_many(&mut reqs).expect_err("past end").kind(),
            ErrorKind::UnexpectedEof
        );
    });
}

#[test]
fn large_read_batches_refill_the_ring_and_a_read_past_the_end_fails_the_batch() {
    each_backend(|io, dir| {
        let f = io
            .open(&dir.join("a"), OpenOptions::create_new())
            .expect("create");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
        f.write_all_at(&data, 0).expect("write");
        // Out of the page cache (clean pages are dropped on advice), so the reads miss and
        // reach the device, not only a cache copy.
        f.sync_all().expect("sync");
        let raw = std::fs::File::open(dir.join("a")).expect("open");
        // SAFETY: a valid open descriptor; advice only.
        unsafe {
            libc::posix_fadvise(
                std::os::fd::AsRawFd::as_raw_fd(&raw),
                0,
                0,
                libc::POSIX_FADV_DONTNEED,
            )
        };
        // More reads than a calling thread's ring keeps in flight (64).
        let mut bufs: Vec<Vec<u8>> = (0..150).map(|i| vec![0u8; 1 + (i * 131) % 4096]).collect();
        let offsets: Vec<u64> = (0..150u64).map(|i| (i * 7919) % 290_000).collect();
        read_and_check(io, f.as_ref(), &offsets, &mut bufs, &data);
        let (mut a, mut b, mut c) = (vec![0u8; 100], vec![0u8; 100], vec![0u8; 100]);
        let mut reqs: Vec<(u64, &mut [u8])> = vec![
            (0, a.as_mut_slice()),
            (299_950, b.as_mut_slice()),
            (1_000, c.as_mut_slice()),
        ];
        assert_eq!(
            f.read_many(&mut reqs).expect_err("past end").kind(),
            ErrorKind::UnexpectedEof,
            "{}",
            io.name()
        );
        // The thread's ring is still usable after the failed batch.
        let mut d = vec![0u8; 64];
        let mut e = vec![0u8; 64];
        let mut reqs: Vec<(u64, &mut [u8])> =
            vec![(10, d.as_mut_slice()), (20_000, e.as_mut_slice())];
        f.read_many(&mut reqs).expect("after a failed batch");
        assert_eq!(&d[..], &data[10..74]);
        assert_eq!(&e[..], &data[20_000..20_064]);
    });
}

#[test]
fn set_len_truncates_and_extends_with_zeros() {
    each_backend(|io, dir| {
        let f = io
            .open(&dir.join("a"), OpenOptions::create_new())
            .expect("create");
        f.write_all_at(&[7u8; 100], 0).expect("write");
        f.set_len(10).expect("truncate");
        assert_eq!(f.len().expect("len"), 10);
        f.set_len(20).expect("extend");
        let mut buf = [1u8; 20];
        f.read_exact_at(&mut buf, 0).expect("read");
        assert_eq!(&buf[..10], &[7u8; 10]);
        assert_eq!(&buf[10..], &[0u8; 10]);
    });
}

#[test]
fn large_buffers_move_completely() {
    each_backend(|io, dir| {
        let f = io
            .open(&dir.join("a"), OpenOptions::create_new())
            .expect("create");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
        f.write_all_at_and_sync(&data, 4096).expect("write");
        let mut back = vec![0u8; data.len()];
        f.read_exact_at(&mut back, 4096).expect("read");
        assert!(back == data, "{}", io.name());
    });
}

#[test]
fn open_options_are_honoured() {
    each_backend(|io, dir| {
        let p = dir.join("a");
        assert!(
            io.open(&p, OpenOptions::read_only()).is_err(),
            "missing file opens"
        );
        io.open(&p, OpenOptions::create_new())
            .expect("create")
            .write_all_at(b"xyz", 0)
            .expect("write");
        let e = io
            .open(&p, OpenOptions::create_new())
            .expect_err("create_new twice");
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        let ro = io.open(&p, OpenOptions::read_only()).expect("read only");
        assert!(
            ro.write_all_at(b"q", 0).is_err(),
            "{}: read-only file accepted a write",
            io.name()
        );
        let t = OpenOptions {
            write: true,
            truncate: true,
            ..Default::default()
        };
        assert_eq!(io.open(&p, t).expect("truncate").len().expect("len"), 0);
    });
}

#[test]
fn direct_io_is_used_or_reported() {
    each_backend(|io, dir| {
        let p = dir.join("d");
        let f = io
            .open(
                &p,
                OpenOptions {
                    direct: true,
                    ..OpenOptions::create_new()
                },
            )
            .expect("open");
        let mut buf = AlignedBuf::new(8192);
        buf.as_mut().fill(3);
        f.write_all_at_and_sync(buf.as_ref(), 4096)
            .expect("aligned write");
        let mut back = AlignedBuf::new(4096);
        f.read_exact_at(back.as_mut(), 8192).expect("aligned read");
        assert!(back.as_ref().iter().all(|b| *b == 3));
        assert_eq!(f.len().expect("len"), 12288);
        eprintln!("{}: direct = {}", io.name(), f.is_direct());
    });
}

#[test]
fn directory_operations_work() {
    each_backend(|io, dir| {
        let sub = dir.join("x/y");
        io.create_dir_all(&sub).expect("mkdir");
        assert!(io.exists(&sub));
        for name in ["b", "a", "c"] {
            io.open(&sub.join(name), OpenOptions::create_new())
                .expect("create");
        }
        assert_eq!(io.list_dir(&sub).expect("list"), vec!["a", "b", "c"]);
        io.rename(&sub.join("a"), &sub.join("d")).expect("rename");
        io.remove_file(&sub.join("b")).expect("remove");
        io.sync_dir(&sub).expect("sync dir");
        assert_eq!(io.list_dir(&sub).expect("list"), vec!["c", "d"]);
        assert!(!io.exists(&sub.join("a")));
        io.remove_dir_all(&dir.join("x")).expect("rmdir");
        assert!(!io.exists(&sub));
        assert!(io.list_dir(&sub).is_err());
    });
}

#[test]
fn concurrent_operations_from_many_threads() {
    each_backend(|io, dir| {
        let f = io
            .open(&dir.join("a"), OpenOptions::create_new())
            .expect("create");
        std::thread::scope(|s| {
            for t in 0..8u64 {
                let f = &f;
                s.spawn(move || {
                    for i in 0..50u64 {
                        let off = (t * 50 + i) * 64;
                        let block = [(t * 50 + i) as u8; 64];
                        if i % 10 == 0 {
                            f.write_all_at_and_sync(&block, off).expect("write+sync");
                        } else {
                            f.write_all_at(&block, off).expect("write");
                        }
                        let mut back = [0u8; 64];
                        f.read_exact_at(&mut back, off).expect("read");
                        assert_eq!(back, block);
                    }
                });
            }
        });
        assert_eq!(f.len().expect("len"), 400 * 64);
    });
}

#[test]
fn uring_backend_stops_cleanly_when_dropped() {
    let Ok(u) = UringBackend::with_options(UringOptions {
        rings: 3,
        entries: 8,
        ..UringOptions::default()
    }) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let f = u
        .open(&dir.path().join("a"), OpenOptions::create_new())
        .expect("create");
    drop(u);
    // The file keeps its ring alive.
    f.write_all_at_and_sync(b"still works", 0)
        .expect("write after backend drop");
    drop(f);
}

/// A heap buffer aligned for O_DIRECT.
struct AlignedBuf {
    v: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    fn new(len: usize) -> Self {
        let v = vec![0u8; len + super::DIRECT_IO_ALIGN];
        let start = v.as_ptr().align_offset(super::DIRECT_IO_ALIGN);
        AlignedBuf { v, start, len }
    }
    fn as_ref(&self) -> &[u8] {
        &self.v[self.start..self.start + self.len]
    }
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.v[self.start..self.start + self.len]
    }
}

#[test]
fn default_backend_prefers_io_uring_or_says_why_not() {
    let (io, why) = super::default_backend(super::BackendKind::Auto);
    match why {
        None => assert_eq!(io.name(), "io_uring"),
        Some(reason) => {
            assert_eq!(io.name(), "std");
            assert!(reason.contains("io_uring"), "{reason}");
        }
    }
    let (io, why) = super::default_backend(super::BackendKind::Std);
    assert_eq!((io.name().as_str(), why), ("std", None));
}

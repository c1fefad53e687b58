//! Hot-key insight: the most accessed and most throttled partition keys of a table over a
//! sliding window, in bounded memory (the Space-Saving sketch of Metwally, Agrawal and El
//! Abbadi, 2005).
//!
//! Space-Saving keeps `k` counters. A key already counted is incremented; a new key takes over
//! the smallest counter and inherits its count as its error bound. Any key whose true frequency
//! exceeds `total / k` is guaranteed to be in the sketch, and every estimate overcounts by at
//! most its recorded error.
//!
//! Cost: the table records one request in `sample_one_in` (a thread-local random draw, no
//! shared write); only a sampled request takes the sketch's mutex. Reported counts are scaled
//! back by the sampling rate. The window is two half-window sketches: the older is dropped
//! when a half window passes, so `top` covers between one half and one whole window.

use parking_lot::Mutex;

use super::clock::MICROS_PER_SEC;
use super::partition::fast_rand;

/// Bytes of a partition key kept with its counter (longer keys are truncated, and flagged).
pub const KEY_COPY_MAX: usize = 32;

#[derive(Debug, Clone)]
struct Entry {
    hash: u64,
    key: [u8; KEY_COPY_MAX],
    key_len: u8,
    truncated: bool,
    count: u64,
    error: u64,
}

/// One estimated heavy hitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotKey {
    /// The key's routing hash.
    pub hash: u64,
    /// The partition key bytes (at most [`KEY_COPY_MAX`]).
    pub key: Vec<u8>,
    /// The key was longer than what is kept.
    pub key_truncated: bool,
    /// Estimated count (an overestimate by at most `error`).
    pub count: u64,
    /// Upper bound on the overestimate.
    pub error: u64,
}

/// A Space-Saving sketch with a fixed number of counters.
#[derive(Debug, Clone)]
pub struct SpaceSaving {
    capacity: usize,
    entries: Vec<Entry>,
}

impl SpaceSaving {
    /// A sketch of `capacity` counters (at least 1).
    pub fn new(capacity: usize) -> SpaceSaving {
        SpaceSaving {
            capacity: capacity.max(1),
            entries: Vec::with_capacity(capacity.max(1)),
        }
    }

    /// Counts `weight` occurrences of the key `key` with routing hash `hash`.
    pub fn record(&mut self, hash: u64, key: &[u8], weight: u64) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.hash == hash) {
            e.count += weight;
            return;
        }
        let mut copy = [0u8; KEY_COPY_MAX];
        let n = key.len().min(KEY_COPY_MAX);
        copy[..n].copy_from_slice(&key[..n]);
        let mut entry = Entry {
            hash,
            key: copy,
            key_len: n as u8,
            truncated: key.len() > KEY_COPY_MAX,
            count: weight,
            error: 0,
        };
        if self.entries.len() < self.capacity {
            self.entries.push(entry);
            return;
        }
        let Some((i, min)) = self
            .entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.count)
            .map(|(i, e)| (i, e.count))
        else {
            return;
        };
        entry.count += min;
        entry.error = min;
        self.entries[i] = entry;
    }

    /// The `n` largest estimates, largest first.
    pub fn top(&self, n: usize) -> Vec<HotKey> {
        let mut v: Vec<HotKey> = self.entries.iter().map(to_hot_key).collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then(a.hash.cmp(&b.hash)));
        v.truncate(n);
        v
    }

    fn clear(&mut self) {
        self.entries.clear();
    }
}

fn to_hot_key(e: &Entry) -> HotKey {
    HotKey {
        hash: e.hash,
        key: e.key[..e.key_len as usize].to_vec(),
        key_truncated: e.truncated,
        count: e.count,
        error: e.error,
    }
}

#[derive(Debug)]
struct Windowed {
    current: SpaceSaving,
    previous: SpaceSaving,
    rotated_at_us: u64,
}

impl Windowed {
    fn rotate(&mut self, now_us: u64, half_window_us: u64) {
        if now_us >= self.rotated_at_us.saturating_add(half_window_us) {
            // Two half windows passed: everything is stale.
            if now_us >= self.rotated_at_us.saturating_add(2 * half_window_us) {
                self.previous.clear();
            } else {
                std::mem::swap(&mut self.previous, &mut self.current);
            }
            self.current.clear();
            self.rotated_at_us = now_us;
        }
    }

    fn top(&self, n: usize, scale: u64) -> Vec<HotKey> {
        let mut merged = self.current.top(usize::MAX);
        for old in self.previous.top(usize::MAX) {
            match merged.iter_mut().find(|k| k.hash == old.hash) {
                Some(k) => {
                    k.count += old.count;
                    k.error += old.error;
                }
                None => merged.push(old),
            }
        }
        merged.sort_by(|a, b| b.count.cmp(&a.count).then(a.hash.cmp(&b.hash)));
        merged.truncate(n);
        for k in &mut merged {
            k.count = k.count.saturating_mul(scale);
            k.error = k.error.saturating_mul(scale);
        }
        merged
    }
}

/// The most accessed and most throttled keys of one table.
#[derive(Debug)]
pub struct HotKeys {
    sample_one_in: u64,
    half_window_us: u64,
    accessed: Mutex<Windowed>,
    throttled: Mutex<Windowed>,
}

/// What [`HotKeys::top`] reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HotKeyReport {
    /// Keys by estimated requests (admitted or not) in the window.
    pub accessed: Vec<HotKey>,
    /// Keys by estimated throttled requests in the window.
    pub throttled: Vec<HotKey>,
}

impl HotKeys {
    /// Sketches of `counters` counters, sampling one request in `sample_one_in`, over a window
    /// of `window_secs`.
    pub fn new(counters: usize, sample_one_in: u32, window_secs: u64, now_us: u64) -> HotKeys {
        let w = || Windowed {
            current: SpaceSaving::new(counters),
            previous: SpaceSaving::new(counters),
            rotated_at_us: now_us,
        };
        HotKeys {
            sample_one_in: u64::from(sample_one_in.max(1)),
            half_window_us: (window_secs.max(1) * MICROS_PER_SEC) / 2,
            accessed: Mutex::new(w()),
            throttled: Mutex::new(w()),
        }
    }

    /// Notes one request for `key` (sampled).
    #[inline]
    pub fn note(&self, now_us: u64, hash: u64, key: &[u8], throttled: bool) {
        if !fast_rand().is_multiple_of(self.sample_one_in) {
            return;
        }
        self.note_sampled(now_us, hash, key, throttled);
    }

    fn note_sampled(&self, now_us: u64, hash: u64, key: &[u8], throttled: bool) {
        {
            let mut a = self.accessed.lock();
            a.rotate(now_us, self.half_window_us);
            a.current.record(hash, key, 1);
        }
        if throttled {
            let mut t = self.throttled.lock();
            t.rotate(now_us, self.half_window_us);
            t.current.record(hash, key, 1);
        }
    }

    /// The `n` hottest keys of the window ending at `now_us`, counts scaled by the sampling.
    pub fn top(&self, now_us: u64, n: usize) -> HotKeyReport {
        let mut a = self.accessed.lock();
        a.rotate(now_us, self.half_window_us);
        let accessed = a.top(n, self.sample_one_in);
        drop(a);
        let mut t = self.throttled.lock();
        t.rotate(now_us, self.half_window_us);
        HotKeyReport {
            accessed,
            throttled: t.top(n, self.sample_one_in),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// Draws from a Zipf(θ) distribution over `n` ranks by inverting the CDF.
    fn zipf_cdf(n: usize, theta: f64) -> Vec<f64> {
        let w: Vec<f64> = (1..=n).map(|r| 1.0 / (r as f64).powf(theta)).collect();
        let total: f64 = w.iter().sum();
        let mut acc = 0.0;
        w.iter()
            .map(|x| {
                acc += x / total;
                acc
            })
            .collect()
    }

    #[test]
    fn space_saving_finds_the_heavy_hitters_of_a_zipfian_stream() {
        let seed = std::env::var("HASHLOG_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(7u64);
        let mut rng = SmallRng::seed_from_u64(seed);
        let n = 10_000;
        let cdf = zipf_cdf(n, 1.1);
        let mut truth = vec![0u64; n];
        let mut ss = SpaceSaving::new(64);
        for _ in 0..200_000 {
            let u: f64 = rng.gen();
            let rank = cdf.partition_point(|c| *c < u).min(n - 1);
            truth[rank] += 1;
            let key = format!("user#{rank}");
            ss.record(rank as u64, key.as_bytes(), 1);
        }
        let top = ss.top(10);
        // The true top 10 are ranks 0..10 (a Zipf stream this long orders them); all found.
        for (i, k) in top.iter().enumerate() {
            assert_eq!(k.hash, i as u64, "seed {seed}: position {i} holds {:?}", k);
            assert_eq!(k.key, format!("user#{i}").into_bytes());
            assert!(k.count >= truth[i] && k.count - k.error <= truth[i]);
        }
    }

    #[test]
    fn long_keys_are_truncated_and_flagged() {
        let mut ss = SpaceSaving::new(2);
        ss.record(1, &[7u8; 100], 3);
        let t = ss.top(1);
        assert_eq!(t[0].key.len(), KEY_COPY_MAX);
        assert!(t[0].key_truncated);
    }

    #[test]
    fn the_window_forgets_old_keys() {
        let h = HotKeys::new(8, 1, 10, 0);
        for _ in 0..100 {
            h.note(0, 1, b"old", false);
        }
        h.note(0, 2, b"hot", true);
        let r = h.top(1_000_000, 5);
        assert_eq!(r.accessed[0].key, b"old");
        assert_eq!(r.throttled[0].key, b"hot");
        // Six seconds later the first half window rotated out once: still there.
        let r = h.top(6_000_000, 5);
        assert_eq!(r.accessed[0].count, 100);
        // Twelve seconds: gone.
        h.note(12_000_000, 3, b"new", false);
        let r = h.top(12_000_000, 5);
        assert_eq!(r.accessed.len(), 1);
        assert_eq!(r.accessed[0].key, b"new");
    }
}

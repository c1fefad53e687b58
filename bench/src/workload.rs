//! YCSB core workloads A–F as operation mixes over the key distributions of `keys.rs`, with
//! item-size distributions and a time-varying mode (the hot set moves every T seconds).

use std::sync::atomic::{AtomicU64, Ordering};

use rand::rngs::SmallRng;
use rand::Rng;

use crate::keys::{Distribution, KeyGen};

/// YCSB core workloads (Cooper et al., SoCC 2010).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ycsb {
    /// 50 % read, 50 % update.
    A,
    /// 95 % read, 5 % update.
    B,
    /// 100 % read.
    C,
    /// 95 % read, 5 % insert; reads favour the newest keys (use `--dist latest`).
    D,
    /// 95 % scan (1–100 items), 5 % insert.
    E,
    /// 50 % read, 50 % read-modify-write.
    F,
}

impl Ycsb {
    /// Fractions of read, update, insert, scan, read-modify-write (sum 1).
    pub fn mix(self) -> [f64; 5] {
        match self {
            Ycsb::A => [0.5, 0.5, 0.0, 0.0, 0.0],
            Ycsb::B => [0.95, 0.05, 0.0, 0.0, 0.0],
            Ycsb::C => [1.0, 0.0, 0.0, 0.0, 0.0],
            Ycsb::D => [0.95, 0.0, 0.05, 0.0, 0.0],
            Ycsb::E => [0.0, 0.0, 0.05, 0.95, 0.0],
            Ycsb::F => [0.5, 0.0, 0.0, 0.0, 0.5],
        }
    }

    /// The letter.
    pub fn name(self) -> &'static str {
        match self {
            Ycsb::A => "A",
            Ycsb::B => "B",
            Ycsb::C => "C",
            Ycsb::D => "D",
            Ycsb::E => "E",
            Ycsb::F => "F",
        }
    }
}

/// One operation of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Read,
    Update,
    Insert,
    /// A scan of this many consecutive items from the key (charged as one Query page).
    Scan(u32),
    ReadModifyWrite,
}

/// Item sizes in bytes: fixed, or uniform in `[min, max]` chosen per key (stable per key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemSize {
    Fixed(usize),
    Uniform(usize, usize),
}

impl std::str::FromStr for ItemSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(r) = s.strip_prefix("uniform:") {
            let (a, b) = r.split_once('-').ok_or("uniform:MIN-MAX")?;
            let a: usize = a.parse().map_err(|e| format!("{s}: {e}"))?;
            let b: usize = b.parse().map_err(|e| format!("{s}: {e}"))?;
            if a == 0 || a > b {
                return Err(format!("{s}: need 0 < MIN <= MAX"));
            }
            return Ok(ItemSize::Uniform(a, b));
        }
        s.parse::<usize>()
            .map(|n| ItemSize::Fixed(n.max(1)))
            .map_err(|e| format!("item size {s:?}: {e} (BYTES or uniform:MIN-MAX)"))
    }
}

impl std::fmt::Display for ItemSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItemSize::Fixed(n) => write!(f, "{n}"),
            ItemSize::Uniform(a, b) => write!(f, "uniform:{a}-{b}"),
        }
    }
}

impl ItemSize {
    /// Size of the item with key index `i` (a hash of the index picks it, so it is stable).
    pub fn of(&self, i: u64) -> usize {
        match *self {
            ItemSize::Fixed(n) => n,
            ItemSize::Uniform(a, b) => {
                let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
                a + (h as usize) % (b - a + 1)
            }
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct WorkloadSpec {
    pub ycsb: Ycsb,
    pub dist: Distribution,
    /// Keys loaded before the run (inserts add keys after them).
    pub records: u64,
    pub item_size: ItemSize,
    /// Move the hot set every this many seconds (None: stationary).
    pub shift_every_secs: Option<u64>,
    /// Longest scan (workload E), items.
    pub max_scan: u32,
}

/// A stateful generator of (operation, key index).
#[derive(Debug, Clone)]
pub struct Workload {
    spec: WorkloadSpec,
    gen: KeyGen,
    cumulative: [f64; 5],
    next_insert: u64,
}

impl Workload {
    pub fn new(spec: WorkloadSpec) -> Workload {
        let gen = KeyGen::new(spec.dist, spec.records);
        let m = spec.ycsb.mix();
        let mut cumulative = [0.0; 5];
        let mut acc = 0.0;
        for (c, f) in cumulative.iter_mut().zip(m) {
            acc += f;
            *c = acc;
        }
        let next_insert = spec.records.max(1);
        Workload {
            spec,
            gen,
            cumulative,
            next_insert,
        }
    }

    /// Offset the hot set has moved by at `now_secs` (0 while stationary).
    pub fn shift_offset(&self, now_secs: u64) -> u64 {
        match self.spec.shift_every_secs {
            Some(t) if t > 0 => {
                let phase = now_secs / t;
                // Golden-ratio steps land each phase's hot set far from the previous ones.
                let n = self.spec.records.max(1);
                ((phase as u128 * n as u128 * 381_966 / 1_000_000) % n as u128) as u64
            }
            _ => 0,
        }
    }

    /// The next operation and its key index at simulated second `now_secs`.
    #[inline]
    pub fn next(&mut self, rng: &mut SmallRng, now_secs: u64) -> (OpKind, u64) {
        let op = self.choose_op(rng);
        if op == OpKind::Insert {
            let k = self.next_insert;
            self.next_insert += 1;
            return (op, k);
        }
        (op, self.existing_key(rng, self.next_insert - 1, now_secs))
    }

    /// Like [`Workload::next`] for one of several concurrent clients: inserts take the next
    /// index from `next_insert`, shared by every client (start it at [`Workload::first_insert`]),
    /// so no two clients insert the same key; reads see every client's inserts as the newest.
    #[inline]
    pub fn next_shared(
        &mut self,
        rng: &mut SmallRng,
        now_secs: u64,
        next_insert: &AtomicU64,
    ) -> (OpKind, u64) {
        let op = self.choose_op(rng);
        if op == OpKind::Insert {
            return (op, next_insert.fetch_add(1, Ordering::Relaxed));
        }
        let newest = next_insert.load(Ordering::Relaxed).saturating_sub(1);
        (op, self.existing_key(rng, newest, now_secs))
    }

    /// The index the first insert gets.
    pub fn first_insert(&self) -> u64 {
        self.spec.records.max(1)
    }

    #[inline]
    fn choose_op(&self, rng: &mut SmallRng) -> OpKind {
        let u: f64 = rng.gen();
        let c = &self.cumulative;
        if u < c[0] {
            OpKind::Read
        } else if u < c[1] {
            OpKind::Update
        } else if u < c[2] {
            OpKind::Insert
        } else if u < c[3] {
            OpKind::Scan(rng.gen_range(1..=self.spec.max_scan.max(1)))
        } else {
            OpKind::ReadModifyWrite
        }
    }

    /// A key drawn from the distribution (`newest`: the last inserted index), moved by the
    /// hot-set shift at `now_secs`.
    #[inline]
    fn existing_key(&self, rng: &mut SmallRng, newest: u64, now_secs: u64) -> u64 {
        let n = self.spec.records.max(1);
        let k = self.gen.next(rng, newest);
        let off = self.shift_offset(now_secs);
        if off == 0 {
            k
        } else {
            (k % n + off) % n
        }
    }
}

/// Writes YCSB-style key bytes `user%012d` for index `i` into `buf`.
#[inline]
pub fn key_bytes(i: u64, buf: &mut [u8; 16]) -> &[u8] {
    buf[..4].copy_from_slice(b"user");
    let mut x = i % 1_000_000_000_000;
    for b in buf[4..].iter_mut().rev() {
        *b = b'0' + (x % 10) as u8;
        x /= 10;
    }
    &buf[..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn spec(ycsb: Ycsb, dist: Distribution) -> WorkloadSpec {
        WorkloadSpec {
            ycsb,
            dist,
            records: 10_000,
            item_size: ItemSize::Fixed(1000),
            shift_every_secs: None,
            max_scan: 100,
        }
    }

    #[test]
    fn key_bytes_are_zero_padded_and_ordered() {
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        assert_eq!(key_bytes(42, &mut a), b"user000000000042");
        assert!(key_bytes(9, &mut a).to_vec() < key_bytes(10, &mut b).to_vec());
    }

    #[test]
    fn mixes_match_ycsb_fractions() {
        for y in [Ycsb::A, Ycsb::B, Ycsb::C, Ycsb::D, Ycsb::E, Ycsb::F] {
            let mut w = Workload::new(spec(y, Distribution::Uniform));
            let mut rng = SmallRng::seed_from_u64(1);
            let mut c = [0f64; 5];
            let n = 100_000;
            for _ in 0..n {
                let i = match w.next(&mut rng, 0).0 {
                    OpKind::Read => 0,
                    OpKind::Update => 1,
                    OpKind::Insert => 2,
                    OpKind::Scan(len) => {
                        assert!((1..=100).contains(&len));
                        3
                    }
                    OpKind::ReadModifyWrite => 4,
                };
                c[i] += 1.0;
            }
            for (got, want) in c.iter().zip(y.mix()) {
                assert!((got / n as f64 - want).abs() < 0.01, "{y:?}: {c:?}");
            }
        }
    }

    #[test]
    fn inserts_append_new_keys() {
        let mut w = Workload::new(spec(Ycsb::D, Distribution::Latest { theta: 0.99 }));
        let mut rng = SmallRng::seed_from_u64(2);
        let ins: Vec<u64> = (0..50_000)
            .filter_map(|_| match w.next(&mut rng, 0) {
                (OpKind::Insert, k) => Some(k),
                _ => None,
            })
            .collect();
        assert!(ins.windows(2).all(|p| p[1] == p[0] + 1));
        assert_eq!(ins.first(), Some(&10_000));
    }

    #[test]
    fn concurrent_clients_never_insert_the_same_key() {
        let shared = AtomicU64::new(10_000);
        let mut a = Workload::new(spec(Ycsb::D, Distribution::Latest { theta: 0.99 }));
        let mut b = a.clone();
        let (mut ra, mut rb) = (SmallRng::seed_from_u64(1), SmallRng::seed_from_u64(2));
        let mut inserted = Vec::new();
        for _ in 0..20_000 {
            for (w, r) in [(&mut a, &mut ra), (&mut b, &mut rb)] {
                match w.next_shared(r, 0, &shared) {
                    (OpKind::Insert, k) => inserted.push(k),
                    (_, k) => assert!(k < shared.load(Ordering::Relaxed), "{k}"),
                }
            }
        }
        let n = inserted.len() as u64;
        assert!(n > 1_000, "{n}");
        inserted.sort_unstable();
        assert_eq!(inserted, (10_000..10_000 + n).collect::<Vec<_>>());
    }

    #[test]
    fn scrambled_zipfian_head_share_matches_zipfian_but_scattered() {
        // Same rank-frequency law as plain zipfian; the hottest key is not key 0.
        let n = 10_000u64;
        let draws = 300_000;
        let count = |d: Distribution| {
            let g = KeyGen::new(d, n);
            let mut rng = SmallRng::seed_from_u64(9);
            let mut c = vec![0u64; n as usize];
            for _ in 0..draws {
                c[g.next(&mut rng, 0) as usize] += 1;
            }
            c
        };
        let plain = count(Distribution::Zipfian { theta: 0.99 });
        let mut scr = count(Distribution::ScrambledZipfian { theta: 0.99 });
        let top_plain = plain[0];
        scr.sort_unstable_by(|a, b| b.cmp(a));
        // The top rank keeps its share within 5 % (collisions of the scramble only add).
        assert!(
            (scr[0] as f64 - top_plain as f64).abs() / (top_plain as f64) < 0.05,
            "{} vs {top_plain}",
            scr[0]
        );
        assert!(plain[0] > plain[1] && plain[1] > plain[100]);
    }

    #[test]
    fn shifting_moves_the_hot_set_every_period() {
        let mut s = spec(Ycsb::C, Distribution::Zipfian { theta: 0.99 });
        s.shift_every_secs = Some(60);
        let mut w = Workload::new(s);
        assert_eq!(w.shift_offset(59), 0);
        let o1 = w.shift_offset(60);
        assert!(o1 > 0 && o1 == w.shift_offset(119));
        assert_ne!(o1, w.shift_offset(120));
        // The hottest key moves to the offset.
        let mut rng = SmallRng::seed_from_u64(4);
        let mut hits = 0;
        for _ in 0..10_000 {
            if w.next(&mut rng, 61).1 == o1 {
                hits += 1;
            }
        }
        assert!(hits > 500, "{hits}");
    }

    #[test]
    fn item_sizes_parse_and_stay_in_range() {
        let s: ItemSize = "uniform:100-4000".parse().unwrap();
        assert!((0..1000).all(|i| (100..=4000).contains(&s.of(i))));
        assert_eq!("512".parse::<ItemSize>(), Ok(ItemSize::Fixed(512)));
        assert!("uniform:5-1".parse::<ItemSize>().is_err());
    }
}

//! Key distributions: uniform, zipfian (YCSB's generator after Gray et al., "Quickly
//! generating billion-record synthetic databases"), scrambled zipfian, hotspot and latest.

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    Uniform,
    /// Zipfian over item ranks with skew θ; rank 0 is the hottest item.
    Zipfian {
        theta: f64,
    },
    /// Zipfian ranks scattered over the key space by a hash (YCSB's default).
    ScrambledZipfian {
        theta: f64,
    },
    /// `hot_op_fraction` of operations go to the first `hot_key_fraction` of keys.
    Hotspot {
        hot_key_fraction: f64,
        hot_op_fraction: f64,
    },
    /// Recently inserted keys are hottest (zipfian over distance from the newest key).
    Latest {
        theta: f64,
    },
}

impl std::str::FromStr for Distribution {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let num = |d: f64| -> Result<f64, String> {
            arg.map(|a| a.parse::<f64>().map_err(|e| format!("{s}: {e}")))
                .unwrap_or(Ok(d))
        };
        match name {
            "uniform" => Ok(Distribution::Uniform),
            "zipfian" => Ok(Distribution::Zipfian { theta: num(0.99)? }),
            "scrambled" | "scrambled-zipfian" => Ok(Distribution::ScrambledZipfian { theta: num(0.99)? }),
            "latest" => Ok(Distribution::Latest { theta: num(0.99)? }),
            "hotspot" => {
                let (k, o) = match arg {
                    Some(a) => {
                        let (k, o) = a.split_once(',').ok_or("hotspot:KEYFRAC,OPFRAC")?;
                        (k.parse::<f64>().map_err(|e| e.to_string())?, o.parse::<f64>().map_err(|e| e.to_string())?)
                    }
                    None => (0.2, 0.8),
                };
                Ok(Distribution::Hotspot { hot_key_fraction: k, hot_op_fraction: o })
            }
            _ => Err(format!("unknown distribution {s:?} (uniform, zipfian[:θ], scrambled[:θ], hotspot[:k,o], latest[:θ])")),
        }
    }
}

/// Draws zipfian ranks in `0..n` in O(1) per draw.
#[derive(Debug, Clone)]
pub struct Zipfian {
    n: u64,
    alpha: f64,
    zetan: f64,
    eta: f64,
    /// 1 + 0.5^θ: draws with u·ζ(n) below it are rank 1 (computed once, not per draw).
    rank1_bound: f64,
}

fn zeta(n: u64, theta: f64) -> f64 {
    (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum()
}

impl Zipfian {
    pub fn new(n: u64, theta: f64) -> Zipfian {
        let n = n.max(1);
        let zetan = zeta(n, theta);
        let zeta2 = zeta(2.min(n), theta);
        let alpha = 1.0 / (1.0 - theta);
        let eta = (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan);
        Zipfian {
            n,
            alpha,
            zetan,
            eta,
            rank1_bound: 1.0 + 0.5f64.powf(theta),
        }
    }

    pub fn next(&self, rng: &mut SmallRng) -> u64 {
        let u: f64 = rng.gen();
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < self.rank1_bound {
            return 1.min(self.n - 1);
        }
        let r = (self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        r.min(self.n - 1)
    }
}

/// Ranks whose scrambled key index is precomputed (256 KiB of `u32`): with θ = 0.99 over
/// 100,000 keys they take ~96 % of the draws.
const SCRAMBLE_HEAD: u64 = 1 << 16;

/// Generates key indexes in `0..n` by a distribution.
#[derive(Debug, Clone)]
pub struct KeyGen {
    dist: Distribution,
    n: u64,
    zipf: Option<Zipfian>,
    /// Scrambled zipfian: `fnv_scramble(r) % n` of the first ranks (the same values, without
    /// the hash and the division per draw); empty for other distributions or `n` > 2^32.
    scrambled: Arc<[u32]>,
}

fn fnv_scramble(x: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in x.to_le_bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl KeyGen {
    pub fn new(dist: Distribution, n: u64) -> KeyGen {
        let n = n.max(1);
        let zipf = match dist {
            Distribution::Zipfian { theta }
            | Distribution::ScrambledZipfian { theta }
            | Distribution::Latest { theta } => Some(Zipfian::new(n, theta)),
            _ => None,
        };
        let scrambled: Arc<[u32]> = match dist {
            Distribution::ScrambledZipfian { .. } if n <= 1 << 32 => (0..n.min(SCRAMBLE_HEAD))
                .map(|r| (fnv_scramble(r) % n) as u32)
                .collect(),
            _ => Arc::new([]),
        };
        KeyGen {
            dist,
            n,
            zipf,
            scrambled,
        }
    }

    /// The next key index. `newest` is the most recently inserted index (for Latest).
    pub fn next(&self, rng: &mut SmallRng, newest: u64) -> u64 {
        match (self.dist, &self.zipf) {
            (Distribution::Uniform, _) => rng.gen_range(0..self.n),
            (Distribution::Zipfian { .. }, Some(z)) => z.next(rng),
            (Distribution::ScrambledZipfian { .. }, Some(z)) => {
                let r = z.next(rng);
                match self.scrambled.get(r as usize) {
                    Some(&k) => u64::from(k),
                    None => fnv_scramble(r) % self.n,
                }
            }
            (Distribution::Latest { .. }, Some(z)) => {
                newest.min(self.n - 1).saturating_sub(z.next(rng))
            }
            (
                Distribution::Hotspot {
                    hot_key_fraction,
                    hot_op_fraction,
                },
                _,
            ) => {
                let hot = ((self.n as f64 * hot_key_fraction) as u64).clamp(1, self.n);
                if rng.gen::<f64>() < hot_op_fraction || hot == self.n {
                    rng.gen_range(0..hot)
                } else {
                    rng.gen_range(hot..self.n)
                }
            }
            _ => rng.gen_range(0..self.n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn zipfian_rank_frequencies_follow_the_power_law() {
        let n = 1000u64;
        let z = Zipfian::new(n, 0.99);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = vec![0u64; n as usize];
        let draws = 400_000;
        for _ in 0..draws {
            counts[z.next(&mut rng) as usize] += 1;
        }
        let zn = zeta(n, 0.99);
        // Gray et al.'s generator is exact for ranks 0 and 1 and approximate beyond; check those
        // two, and the head's total share (what skew experiments depend on).
        for (r, &c) in counts.iter().enumerate().take(2) {
            let expect = draws as f64 / ((r + 1) as f64).powf(0.99) / zn;
            let got = c as f64;
            assert!(
                (got - expect).abs() / expect < 0.05,
                "rank {r}: got {got}, expected {expect}"
            );
        }
        let head: u64 = counts.iter().take(100).sum();
        let expect: f64 =
            (1..=100).map(|i| 1.0 / (i as f64).powf(0.99)).sum::<f64>() / zn * draws as f64;
        assert!(
            (head as f64 - expect).abs() / expect < 0.05,
            "top-100 share: got {head}, expected {expect}"
        );
    }

    #[test]
    fn scrambled_head_table_holds_the_scrambled_index_of_each_rank() {
        for n in [1u64, 7, 100_000, SCRAMBLE_HEAD + 5] {
            let g = KeyGen::new(Distribution::ScrambledZipfian { theta: 0.99 }, n);
            assert_eq!(g.scrambled.len() as u64, n.min(SCRAMBLE_HEAD));
            for (r, &k) in g.scrambled.iter().enumerate() {
                assert_eq!(u64::from(k), fnv_scramble(r as u64) % n, "rank {r} of {n}");
            }
            // Draws past the table are scrambled the same way.
            let z = Zipfian::new(n, 0.99);
            let (mut a, mut b) = (SmallRng::seed_from_u64(2), SmallRng::seed_from_u64(2));
            for _ in 0..20_000 {
                assert_eq!(g.next(&mut a, 0), fnv_scramble(z.next(&mut b)) % n);
            }
        }
        let plain = KeyGen::new(Distribution::Zipfian { theta: 0.99 }, 100);
        assert!(plain.scrambled.is_empty());
    }

    #[test]
    fn uniform_chi_square_is_plausible() {
        let n = 100u64;
        let g = KeyGen::new(Distribution::Uniform, n);
        let mut rng = SmallRng::seed_from_u64(3);
        let mut counts = vec![0f64; n as usize];
        let draws = 200_000;
        for _ in 0..draws {
            counts[g.next(&mut rng, 0) as usize] += 1.0;
        }
        let e = draws as f64 / n as f64;
        let chi: f64 = counts.iter().map(|c| (c - e) * (c - e) / e).sum();
        // 99 degrees of freedom: p = 0.001 critical value is about 148.
        assert!(chi < 148.0, "chi-square {chi}");
    }

    #[test]
    fn hotspot_sends_the_requested_share_to_hot_keys() {
        let g = KeyGen::new(
            Distribution::Hotspot {
                hot_key_fraction: 0.1,
                hot_op_fraction: 0.9,
            },
            1000,
        );
        let mut rng = SmallRng::seed_from_u64(5);
        let hot = (0..100_000).filter(|_| g.next(&mut rng, 0) < 100).count();
        assert!((88_000..92_000).contains(&hot), "{hot}");
    }
}

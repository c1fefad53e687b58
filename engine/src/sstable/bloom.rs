//! Bloom filter over a table's distinct user keys: one standard (not block-split) bit array,
//! `k` probes by double hashing of one xxh3-64 hash (Kirsch–Mitzenmacher), `bits_per_key`
//! bits per key, k = round(bits_per_key × ln 2) clamped to 1..=30.
//!
//! Encoding: `k: u8` ‖ bit array (bit *b* is byte *b/8*, mask `1 << (b mod 8)`). Probe *i* of
//! a key with hash `h`: `h1 = h mod 2³²`, `h2 = (h >> 32) | 1`, bit `(h1 + i·h2 mod 2³²) mod
//! nbits`. An empty payload means "no filter": every key may be present.

/// A built or loaded filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bloom {
    /// Probes per key; 0 for the "no filter" filter.
    k: u8,
    bits: Vec<u8>,
}

const K_MAX: u8 = 30;

fn probes(hash: u64) -> (u32, u32) {
    let h1 = hash as u32;
    let h2 = (hash >> 32) as u32 | 1;
    (h1, h2)
}

impl Bloom {
    /// A filter that answers "may contain" for every key.
    pub fn none() -> Bloom {
        Bloom {
            k: 0,
            bits: Vec::new(),
        }
    }

    /// Builds a filter from key hashes ([`Bloom::hash`] of each distinct user key);
    /// `bits_per_key` 0 builds [`Bloom::none`].
    pub fn build(hashes: &[u64], bits_per_key: usize) -> Bloom {
        if bits_per_key == 0 {
            return Bloom::none();
        }
        let bits_per_key = bits_per_key.min(64);
        let k = ((bits_per_key as f64) * std::f64::consts::LN_2)
            .round()
            .clamp(1.0, f64::from(K_MAX)) as u8;
        // At least 64 bits; at most 2³² bits (the probe arithmetic is 32-bit).
        let nbits = hashes.len().saturating_mul(bits_per_key).clamp(64, 1 << 32);
        let nbytes = nbits.div_ceil(8);
        let nbits = nbytes * 8;
        let mut bits = vec![0u8; nbytes];
        for &h in hashes {
            let (mut a, b) = probes(h);
            for _ in 0..k {
                let bit = (a as usize) % nbits;
                bits[bit / 8] |= 1 << (bit % 8);
                a = a.wrapping_add(b);
            }
        }
        Bloom { k, bits }
    }

    /// The hash a key is filtered by.
    pub fn hash(key: &[u8]) -> u64 {
        xxhash_rust::xxh3::xxh3_64(key)
    }

    /// False means the key is certainly absent.
    pub fn may_contain_hash(&self, hash: u64) -> bool {
        let nbits = self.bits.len() * 8;
        if nbits == 0 || self.k == 0 {
            return true;
        }
        let (mut a, b) = probes(hash);
        for _ in 0..self.k {
            let bit = (a as usize) % nbits;
            if self.bits[bit / 8] & (1 << (bit % 8)) == 0 {
                return false;
            }
            a = a.wrapping_add(b);
        }
        true
    }

    /// False means the key is certainly absent.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(Self::hash(key))
    }

    /// The bloom block payload.
    pub fn encode(&self) -> Vec<u8> {
        if self.k == 0 {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(1 + self.bits.len());
        out.push(self.k);
        out.extend_from_slice(&self.bits);
        out
    }

    /// Decodes a bloom block payload; `None` when it is not a valid filter.
    pub fn decode(buf: &[u8]) -> Option<Bloom> {
        let Some((&k, bits)) = buf.split_first() else {
            return Some(Bloom::none());
        };
        if k == 0 || k > K_MAX || bits.is_empty() || bits.len() > (1 << 29) {
            return None;
        }
        Some(Bloom {
            k,
            bits: bits.to_vec(),
        })
    }

    /// The false-positive rate theory predicts for `n` keys in this filter.
    pub fn theoretical_fp_rate(&self, n: usize) -> f64 {
        if self.k == 0 {
            return 1.0;
        }
        let m = (self.bits.len() * 8) as f64;
        let k = f64::from(self.k);
        (1.0 - (-k * n as f64 / m).exp()).powf(k)
    }

    /// Bytes of the encoded filter.
    pub fn size_bytes(&self) -> usize {
        if self.k == 0 {
            0
        } else {
            self.bits.len() + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp_rate_over_100k_absent_keys_is_within_1_5x_of_theory() {
        let n = 20_000usize;
        let keys: Vec<Vec<u8>> = (0..n)
            .map(|i| format!("present-{i}").into_bytes())
            .collect();
        let hashes: Vec<u64> = keys.iter().map(|k| Bloom::hash(k)).collect();
        let b = Bloom::build(&hashes, 10);
        assert!(keys.iter().all(|k| b.may_contain(k)), "no false negatives");
        let probes = 100_000;
        let fp = (0..probes)
            .filter(|i| b.may_contain(format!("absent-{i}").as_bytes()))
            .count();
        let measured = fp as f64 / probes as f64;
        let theory = b.theoretical_fp_rate(n);
        assert!(
            measured <= theory * 1.5,
            "measured {measured}, theory {theory}"
        );
        assert!(theory < 0.01, "10 bits/key gives under 1% ({theory})");
    }

    #[test]
    fn filter_round_trips_and_zero_bits_means_no_filter() {
        let hashes: Vec<u64> = (0..100u64).map(|i| Bloom::hash(&i.to_le_bytes())).collect();
        let b = Bloom::build(&hashes, 10);
        assert_eq!(Bloom::decode(&b.encode()), Some(b.clone()));
        let none = Bloom::build(&hashes, 0);
        assert!(none.encode().is_empty());
        let none = Bloom::decode(&[]).expect("empty is no filter");
        assert!(none.may_contain(b"anything"));
        assert_eq!(Bloom::decode(&[0, 1, 2]), None, "k = 0 with bits");
        assert_eq!(Bloom::decode(&[31, 1, 2]), None, "k too large");
        assert_eq!(Bloom::decode(&[7]), None, "no bits");
    }

    #[test]
    fn empty_key_set_builds_a_small_filter() {
        let b = Bloom::build(&[], 10);
        assert_eq!(b.size_bytes(), 9);
        assert!(!b.may_contain(b"x"));
    }
}

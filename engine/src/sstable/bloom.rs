//! Bloom filter over user keys: `k` probes by double hashing of one xxh3-64 hash
//! (Kirsch–Mitzenmacher), `bits_per_key` bits per key, k = round(bits_per_key × ln 2).

/// A built or loaded filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bloom {
    k: u8,
    bits: Vec<u8>,
}

fn probes(hash: u64) -> (u32, u32) {
    let h1 = hash as u32;
    let h2 = (hash >> 32) as u32 | 1;
    (h1, h2)
}

impl Bloom {
    /// Builds a filter from key hashes (xxh3-64 of each user key).
    pub fn build(hashes: &[u64], bits_per_key: usize) -> Bloom {
        let bits_per_key = bits_per_key.clamp(1, 64);
        let k = ((bits_per_key as f64) * std::f64::consts::LN_2)
            .round()
            .clamp(1.0, 30.0) as u8;
        let nbits = (hashes.len() * bits_per_key).max(64);
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

    pub fn hash(key: &[u8]) -> u64 {
        xxhash_rust::xxh3::xxh3_64(key)
    }

    /// False means the key is certainly absent.
    pub fn may_contain_hash(&self, hash: u64) -> bool {
        let nbits = self.bits.len() * 8;
        if nbits == 0 {
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

    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(Self::hash(key))
    }

    /// `k` byte then the bit array.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.bits.len());
        out.push(self.k);
        out.extend_from_slice(&self.bits);
        out
    }

    pub fn decode(buf: &[u8]) -> Option<Bloom> {
        let (&k, bits) = buf.split_first()?;
        if k == 0 || k > 30 {
            return None;
        }
        Some(Bloom {
            k,
            bits: bits.to_vec(),
        })
    }

    /// The false-positive rate theory predicts for `n` keys in this filter.
    pub fn theoretical_fp_rate(&self, n: usize) -> f64 {
        let m = (self.bits.len() * 8) as f64;
        let k = self.k as f64;
        (1.0 - (-k * n as f64 / m).exp()).powf(k)
    }

    pub fn size_bytes(&self) -> usize {
        self.bits.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_fp_rate_matches_theory() {
        let n = 20_000usize;
        let keys: Vec<Vec<u8>> = (0..n)
            .map(|i| format!("present-{i}").into_bytes())
            .collect();
        let hashes: Vec<u64> = keys.iter().map(|k| Bloom::hash(k)).collect();
        let b = Bloom::build(&hashes, 10);
        assert!(keys.iter().all(|k| b.may_contain(k)));
        let probes = 100_000;
        let fp = (0..probes)
            .filter(|i| b.may_contain(format!("absent-{i}").as_bytes()))
            .count();
        let measured = fp as f64 / probes as f64;
        let theory = b.theoretical_fp_rate(n);
        assert!(
            measured < theory * 1.5 + 0.001,
            "measured {measured}, theory {theory}"
        );
        let round = Bloom::decode(&b.encode()).expect("decode");
        assert_eq!(round, b);
    }
}

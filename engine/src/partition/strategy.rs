//! [`PartitioningStrategy`]: how a table's capacity partitions are laid out — the per-table
//! setting that picks one of this module's [`super::Partitioner`]s for the capacity layer
//! (docs/CAPACITY.md, "Partitioning strategies").
//!
//! It is chosen at CreateTable (the tag [`PARTITIONING_TAG`], or the database's default),
//! stored in the table's catalog entry as its text form (docs/FORMAT.md) and never changes.

use std::fmt;
use std::str::FromStr;

use crate::limits::{PARTITIONING_PARTITIONS_MAX, PARTITIONING_VNODES_MAX};

/// The CreateTable tag that chooses a table's partitioning (boto3 and the SDKs validate
/// request members client-side, so a tag is how an unmodified client can choose it).
pub const PARTITIONING_TAG: &str = "hashlog:partitioning";

/// Virtual nodes per node when `consistent-hash:N` leaves them out.
pub const CONSISTENT_VNODES_DEFAULT: u32 = 64;

/// How a table's capacity partitions are laid out and how a key finds its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartitioningStrategy {
    /// `hash-split`: even ranges of the xxh3 key hash that split for heat, size and
    /// throughput (the capacity layer's own behaviour, DynamoDB's).
    #[default]
    HashSplit,
    /// `fixed-hash:N`: exactly N even ranges of the key hash, never split.
    FixedHash {
        /// N.
        partitions: u32,
    },
    /// `consistent-hash:N[:V]`: a ring of N nodes with V virtual nodes each; a split adds a
    /// node.
    ConsistentHash {
        /// Nodes at the start.
        nodes: u32,
        /// Virtual nodes per node.
        vnodes: u32,
    },
    /// `key-range[:N]`: order-preserving ranges of the partition-key bytes, split at keys
    /// observed in the traffic; N ranges are laid out at the quantiles of the first sample.
    KeyRange {
        /// N (none: one range until a split).
        partitions: Option<u32>,
    },
}

/// A partitioning string that does not parse, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPartitioning(pub String);

impl fmt::Display for BadPartitioning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadPartitioning {}

impl PartitioningStrategy {
    /// The default, hash ranges that split for heat.
    pub fn is_hash_split(&self) -> bool {
        *self == PartitioningStrategy::HashSplit
    }

    /// The name of the [`super::Partitioner`] of the study this strategy routes as.
    pub fn partitioner_name(&self) -> &'static str {
        match self {
            PartitioningStrategy::HashSplit => "split-for-heat",
            PartitioningStrategy::FixedHash { .. } => "fixed-hash",
            PartitioningStrategy::ConsistentHash { .. } => "consistent",
            PartitioningStrategy::KeyRange { .. } => "key-range",
        }
    }
}

impl fmt::Display for PartitioningStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitioningStrategy::HashSplit => write!(f, "hash-split"),
            PartitioningStrategy::FixedHash { partitions } => write!(f, "fixed-hash:{partitions}"),
            PartitioningStrategy::ConsistentHash { nodes, vnodes } => {
                write!(f, "consistent-hash:{nodes}:{vnodes}")
            }
            PartitioningStrategy::KeyRange { partitions: None } => write!(f, "key-range"),
            PartitioningStrategy::KeyRange {
                partitions: Some(n),
            } => write!(f, "key-range:{n}"),
        }
    }
}

const FORMS: &str = "hash-split, fixed-hash:N, consistent-hash:N[:VNODES] or key-range[:N]";

fn count(s: &str, what: &str, max: u32, whole: &str) -> Result<u32, BadPartitioning> {
    match s.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(BadPartitioning(format!(
            "{whole:?}: {what} must be a whole number from 1 to {max}"
        ))),
    }
}

impl FromStr for PartitioningStrategy {
    type Err = BadPartitioning;

    /// Parses `hash-split`, `fixed-hash:N`, `consistent-hash:N[:VNODES]`, `key-range[:N]`.
    fn from_str(s: &str) -> Result<Self, BadPartitioning> {
        let parts: Vec<&str> = s.split(':').collect();
        let n_max = PARTITIONING_PARTITIONS_MAX;
        match parts.as_slice() {
            ["hash-split"] => Ok(PartitioningStrategy::HashSplit),
            ["fixed-hash", n] => Ok(PartitioningStrategy::FixedHash {
                partitions: count(n, "N (partitions)", n_max, s)?,
            }),
            ["consistent-hash", n] => Ok(PartitioningStrategy::ConsistentHash {
                nodes: count(n, "N (nodes)", n_max, s)?,
                vnodes: CONSISTENT_VNODES_DEFAULT,
            }),
            ["consistent-hash", n, v] => Ok(PartitioningStrategy::ConsistentHash {
                nodes: count(n, "N (nodes)", n_max, s)?,
                vnodes: count(
                    v,
                    "VNODES (virtual nodes per node)",
                    PARTITIONING_VNODES_MAX,
                    s,
                )?,
            }),
            ["key-range"] => Ok(PartitioningStrategy::KeyRange { partitions: None }),
            ["key-range", n] => Ok(PartitioningStrategy::KeyRange {
                partitions: Some(count(n, "N (partitions)", n_max, s)?),
            }),
            _ => Err(BadPartitioning(format!("{s:?} is not one of {FORMS}"))),
        }
    }
}

impl serde::Serialize for PartitioningStrategy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PartitioningStrategy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_and_prints_back() {
        for s in [
            "hash-split",
            "fixed-hash:8",
            "consistent-hash:8:64",
            "key-range",
            "key-range:8",
            "fixed-hash:1024",
        ] {
            let p: PartitioningStrategy = s.parse().expect(s);
            assert_eq!(p.to_string(), s);
            let json = serde_json::to_string(&p).expect("json");
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(
                serde_json::from_str::<PartitioningStrategy>(&json).expect("back"),
                p
            );
        }
        assert_eq!(
            "consistent-hash:4".parse(),
            Ok(PartitioningStrategy::ConsistentHash {
                nodes: 4,
                vnodes: CONSISTENT_VNODES_DEFAULT
            })
        );
        assert_eq!(PartitioningStrategy::default().to_string(), "hash-split");
    }

    #[test]
    fn bad_forms_say_what_is_expected() {
        for (s, says) in [
            ("", "is not one of"),
            ("fixed-hash", "is not one of"),
            ("fixed-hash:0", "from 1 to 1024"),
            ("fixed-hash:1025", "from 1 to 1024"),
            ("fixed-hash:x", "N (partitions)"),
            ("consistent-hash:8:0", "VNODES"),
            ("consistent-hash:8:64:1", "is not one of"),
            ("key-range:-1", "N (partitions)"),
            ("Hash-Split", "is not one of"),
            ("split-for-heat", "is not one of"),
        ] {
            let e = s.parse::<PartitioningStrategy>().expect_err(s);
            assert!(e.0.contains(says), "{s}: {e}");
        }
        assert!(serde_json::from_str::<PartitioningStrategy>("\"ring\"").is_err());
    }
}

//! Compaction: which tables to merge is a pure decision, [`choose`], over a partition's levels;
//! the tree executes the choice in a background worker.
//!
//! Two strategies:
//! - **Leveled** (default): L0 holds flushed tables (overlapping, newest first). When L0 has
//!   `l0_trigger` tables, all of them merge with the overlapping L1 tables into L1. Level n ≥ 1
//!   has a size target `level_base_bytes × ratio^(n-1)`; when over it, one table (the oldest by
//!   sequence numbers) merges into level n+1. Low write amplification on reads, more on writes.
//! - **Tiered** (size-tiered): every table stays in L0 as a sorted run; when `tier_min_runs`
//!   runs of similar size (within `tier_size_ratio`) are adjacent in age, they merge into one run.
//!   Lower write amplification, more runs to consult on reads.

use super::manifest::TableInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionStrategy {
    Leveled,
    Tiered,
}

#[derive(Debug, Clone, Copy)]
pub struct CompactionConfig {
    pub strategy: CompactionStrategy,
    pub l0_trigger: usize,
    pub level_base_bytes: u64,
    pub level_ratio: u64,
    pub target_file_bytes: u64,
    pub max_levels: usize,
    pub tier_min_runs: usize,
    pub tier_size_ratio: f64,
    /// Tiered: merge everything when there are this many runs, whatever their sizes.
    pub tier_max_runs: usize,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            strategy: CompactionStrategy::Leveled,
            l0_trigger: crate::limits::L0_COMPACTION_TRIGGER_TABLES,
            level_base_bytes: 32 * 1024 * 1024,
            level_ratio: 10,
            target_file_bytes: 8 * 1024 * 1024,
            max_levels: 7,
            tier_min_runs: 4,
            tier_size_ratio: 3.0,
            tier_max_runs: 12,
        }
    }
}

/// What to merge: input tables `(level, table id)`, and where the output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub inputs: Vec<(usize, u64)>,
    pub output_level: usize,
    /// Tombstones may be dropped: no level below the output holds any of the input key range.
    pub drop_tombstones: bool,
}

fn overlaps(t: &TableInfo, lo: &[u8], hi: &[u8]) -> bool {
    t.smallest.as_slice() <= hi && t.largest.as_slice() >= lo
}

fn key_range<'a>(tables: impl Iterator<Item = &'a TableInfo>) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut r: Option<(Vec<u8>, Vec<u8>)> = None;
    for t in tables {
        r = Some(match r {
            None => (t.smallest.clone(), t.largest.clone()),
            Some((lo, hi)) => (lo.min(t.smallest.clone()), hi.max(t.largest.clone())),
        });
    }
    r
}

fn nothing_below(levels: &[Vec<TableInfo>], output_level: usize, lo: &[u8], hi: &[u8]) -> bool {
    levels
        .iter()
        .skip(output_level + 1)
        .all(|lv| lv.iter().all(|t| !overlaps(t, lo, hi)))
}

/// Picks the next compaction for a partition, or `None` when none is due.
pub fn choose(levels: &[Vec<TableInfo>], cfg: &CompactionConfig) -> Option<Choice> {
    match cfg.strategy {
        CompactionStrategy::Leveled => choose_leveled(levels, cfg),
        CompactionStrategy::Tiered => choose_tiered(levels, cfg),
    }
}

fn choose_leveled(levels: &[Vec<TableInfo>], cfg: &CompactionConfig) -> Option<Choice> {
    let l0 = levels.first().map(|v| v.as_slice()).unwrap_or(&[]);
    if l0.len() >= cfg.l0_trigger.max(1) {
        let (lo, hi) = key_range(l0.iter())?;
        let mut inputs: Vec<(usize, u64)> = l0.iter().map(|t| (0, t.id)).collect();
        if let Some(l1) = levels.get(1) {
            inputs.extend(
                l1.iter()
                    .filter(|t| overlaps(t, &lo, &hi))
                    .map(|t| (1, t.id)),
            );
        }
        let (lo, hi) = widen(levels, &inputs, lo, hi);
        return Some(Choice {
            inputs,
            output_level: 1,
            drop_tombstones: nothing_below(levels, 1, &lo, &hi),
        });
    }
    let mut target = cfg.level_base_bytes.max(1);
    for n in 1..levels.len() {
        let size: u64 = levels[n].iter().map(|t| t.file_size).sum();
        if size > target && n + 1 < cfg.max_levels {
            // The table holding the oldest data moves down first.
            let t = levels[n].iter().min_by_key(|t| (t.max_seq, t.id))?;
            let mut inputs = vec![(n, t.id)];
            if let Some(next) = levels.get(n + 1) {
                inputs.extend(
                    next.iter()
                        .filter(|u| overlaps(u, &t.smallest, &t.largest))
                        .map(|u| (n + 1, u.id)),
                );
            }
            let (lo, hi) = widen(levels, &inputs, t.smallest.clone(), t.largest.clone());
            return Some(Choice {
                inputs,
                output_level: n + 1,
                drop_tombstones: nothing_below(levels, n + 1, &lo, &hi),
            });
        }
        target = target.saturating_mul(cfg.level_ratio.max(2));
    }
    None
}

fn widen(
    levels: &[Vec<TableInfo>],
    inputs: &[(usize, u64)],
    lo: Vec<u8>,
    hi: Vec<u8>,
) -> (Vec<u8>, Vec<u8>) {
    let tables = inputs
        .iter()
        .filter_map(|(lv, id)| levels.get(*lv).and_then(|l| l.iter().find(|t| t.id == *id)));
    match key_range(tables) {
        Some((a, b)) => (lo.min(a), hi.max(b)),
        None => (lo, hi),
    }
}

fn choose_tiered(levels: &[Vec<TableInfo>], cfg: &CompactionConfig) -> Option<Choice> {
    let runs = levels.first()?;
    let n = runs.len();
    let min_runs = cfg.tier_min_runs.max(2);
    if n < min_runs {
        return None;
    }
    // The longest window of adjacent runs (in age order) whose sizes are within the ratio.
    let mut best: Option<(usize, usize)> = None;
    for i in 0..n {
        let mut lo = runs[i].file_size.max(1);
        let mut hi = lo;
        let mut j = i;
        while j + 1 < n {
            let s = runs[j + 1].file_size.max(1);
            let (nlo, nhi) = (lo.min(s), hi.max(s));
            if nhi as f64 > nlo as f64 * cfg.tier_size_ratio {
                break;
            }
            lo = nlo;
            hi = nhi;
            j += 1;
        }
        let len = j - i + 1;
        if len >= min_runs && best.is_none_or(|(a, b)| len > b - a + 1) {
            best = Some((i, j));
        }
    }
    let (i, j) = match best {
        Some(w) => w,
        None if n >= cfg.tier_max_runs.max(min_runs) => (0, n - 1),
        None => return None,
    };
    let inputs = runs[i..=j].iter().map(|t| (0, t.id)).collect();
    // Tombstones may go only when the window includes the oldest run.
    Some(Choice {
        inputs,
        output_level: 0,
        drop_tombstones: j == n - 1 && levels.len() <= 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: u64, lo: &str, hi: &str, size: u64, max_seq: u64) -> TableInfo {
        TableInfo {
            id,
            file_size: size,
            entries: 1,
            tombstones: 0,
            smallest: lo.as_bytes().to_vec(),
            largest: hi.as_bytes().to_vec(),
            min_seq: max_seq,
            max_seq,
        }
    }

    #[test]
    fn leveled_merges_all_l0_with_overlapping_l1() {
        let cfg = CompactionConfig {
            l0_trigger: 2,
            ..Default::default()
        };
        let levels = vec![
            vec![t(5, "c", "f", 10, 9), t(4, "a", "d", 10, 8)],
            vec![
                t(1, "a", "b", 10, 1),
                t(2, "e", "g", 10, 2),
                t(3, "x", "z", 10, 3),
            ],
        ];
        let c = choose(&levels, &cfg).expect("due");
        assert_eq!(c.output_level, 1);
        assert_eq!(c.inputs, vec![(0, 5), (0, 4), (1, 1), (1, 2)]);
        assert!(c.drop_tombstones);
        assert_eq!(choose(&levels[..1][..0], &cfg), None);
    }

    #[test]
    fn leveled_moves_oversized_level_down_and_keeps_tombstones_above_data() {
        let cfg = CompactionConfig {
            level_base_bytes: 15,
            ..Default::default()
        };
        let levels = vec![
            vec![],
            vec![t(1, "a", "c", 10, 5), t(2, "d", "f", 10, 3)],
            vec![],
            vec![t(9, "e", "e", 1, 1)],
        ];
        let c = choose(&levels, &cfg).expect("due");
        assert_eq!(c.inputs, vec![(1, 2)]);
        assert_eq!(c.output_level, 2);
        assert!(!c.drop_tombstones, "level 3 still holds key e");
    }

    #[test]
    fn tiered_merges_similar_sized_adjacent_runs() {
        let cfg = CompactionConfig {
            strategy: CompactionStrategy::Tiered,
            ..Default::default()
        };
        let runs = vec![
            t(9, "a", "z", 10, 9),
            t(8, "a", "z", 12, 8),
            t(7, "a", "z", 11, 7),
            t(6, "a", "z", 9, 6),
            t(5, "a", "z", 1000, 5),
        ];
        let c = choose(std::slice::from_ref(&runs), &cfg).expect("due");
        assert_eq!(c.inputs, vec![(0, 9), (0, 8), (0, 7), (0, 6)]);
        assert!(!c.drop_tombstones);
        assert_eq!(choose(&[runs[..3].to_vec()], &cfg), None);
    }
}

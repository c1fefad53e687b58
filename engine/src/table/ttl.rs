//! Time to live: a background sweeper deletes items whose TTL attribute (a Number of seconds
//! since the epoch) lies in the past, as DynamoDB's TTL process does — with a REMOVE stream
//! record whose `userIdentity` names the DynamoDB service, index maintenance, and no capacity
//! consumed. Until the sweeper reaches an expired item, reads still return it (DynamoDB
//! behaves the same; filter on the TTL attribute to hide such items). Items whose TTL value is
//! more than five years in the past are never deleted, as DynamoDB documents, and a TTL
//! attribute that is not a Number is ignored.
//!
//! The same sweep trims stream records older than the stream retention period.

use std::ops::Bound;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::capacity::Consumed;
use super::{storage, Table, Tables};
use crate::api::ApiError;
use crate::model::{decode_item, AttributeValue, Item};

/// TTL values further in the past than this are not acted on.
const TTL_MAX_AGE_SECS: f64 = 5.0 * 365.0 * 86_400.0;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStats {
    pub items_examined: usize,
    pub items_deleted: usize,
    pub stream_records_trimmed: usize,
}

/// The record's `userIdentity` in the Streams API's shape (`Type`, `PrincipalId`; Lambda
/// events show the same as `type` / `principalId`).
fn ttl_identity() -> Value {
    json!({"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"})
}

/// Whether `item` has expired at `now` under TTL attribute `attr`.
pub(crate) fn expired(item: &Item, attr: &str, now: f64) -> bool {
    match item.get(attr) {
        Some(AttributeValue::N(n)) => match n.to_string().parse::<f64>() {
            Ok(at) => at <= now && now - at <= TTL_MAX_AGE_SECS,
            Err(_) => false,
        },
        _ => false,
    }
}

impl Tables {
    /// One TTL pass over every table with TTL enabled, deleting at most `max_deletes` expired
    /// items in all, then trims old stream records.
    pub fn sweep_expired(&self, now: f64, max_deletes: usize) -> Result<SweepStats, ApiError> {
        let mut stats = SweepStats::default();
        let tables: Vec<Arc<Table>> = self
            .catalog
            .read()
            .values()
            .filter(|t| t.desc.ttl_attribute.is_some())
            .cloned()
            .collect();
        for t in tables {
            let Some(attr) = t.desc.ttl_attribute.clone() else {
                continue;
            };
            let mut doomed = Vec::new();
            for kv in self
                .kv
                .scan(t.space(), Bound::Unbounded, Bound::Unbounded, false)
                .map_err(storage)?
            {
                let (k, v) = kv.map_err(storage)?;
                stats.items_examined += 1;
                if expired(&decode_item(&v)?, &attr, now) {
                    doomed.push(k);
                    if stats.items_deleted + doomed.len() >= max_deletes {
                        break;
                    }
                }
            }
            for k in doomed {
                let _lock = self.locks.lock_one(t.space(), &k);
                // Re-check under the lock: the item may have been rewritten since the scan.
                let Some(old) = self.load(&t, &k)? else {
                    continue;
                };
                if !expired(&old, &attr, now) {
                    continue;
                }
                let identity = ttl_identity();
                self.write_change(
                    &t,
                    k,
                    Some(&old),
                    None,
                    Some(&identity),
                    &mut Consumed::default(),
                )?;
                stats.items_deleted += 1;
            }
            if stats.items_deleted >= max_deletes {
                break;
            }
        }
        stats.stream_records_trimmed = self.trim_streams(now)?;
        self.expire_old_streams(now)?;
        Ok(stats)
    }

    /// Starts the sweeper thread: a sweep every `interval` until the tables are dropped.
    pub(crate) fn start_sweeper(me: Weak<Tables>, interval: Duration, max_deletes: usize) {
        let started = std::thread::Builder::new()
            .name("hashlog-ttl".into())
            .spawn(move || loop {
                // Sleep in short steps so the thread ends soon after the tables are dropped.
                let mut slept = Duration::ZERO;
                while slept < interval {
                    let step = (interval - slept).min(Duration::from_millis(100));
                    std::thread::sleep(step);
                    slept += step;
                    if me.strong_count() == 0 {
                        return;
                    }
                }
                let Some(tables) = me.upgrade() else {
                    return;
                };
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                if let Err(e) = tables.sweep_expired(now, max_deletes) {
                    eprintln!("hashlog: TTL sweep failed: {}", e.message);
                }
            });
        if let Err(e) = started {
            eprintln!("hashlog: could not start the TTL sweeper: {e}");
        }
    }
}

//! DynamoDB Streams: one record per actual modification of an item, written in the same atomic
//! batch as the modification (so a record survives a crash exactly when its write does), and the
//! Streams API (ListStreams, DescribeStream, GetShardIterator, GetRecords).
//!
//! Each stream has a keyspace of its own; a record's key is its sequence number (u64
//! big-endian), its value `0x01` ‖ the record's JSON. A stream has one shard (hashlog's
//! partitions do not split yet, so there is no parent/child shard lineage to show).
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
}

impl StreamDesc {
    pub fn arn(&self, table_arn: &str) -> String {
        format!("{table_arn}/stream/{}", self.label)
    }

    fn shard_id(&self) -> String {
        format!(
            "shardId-{:020}-{:08x}",
            (self.created_at * 1000.0) as u64,
            self.space
        )
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

/// Sequence numbers of one stream: the next to hand out and those still being committed.
#[derive(Debug)]
pub(crate) struct StreamState {
    inner: Mutex<(u64, BTreeSet<u64>)>,
}

impl StreamState {
    /// The highest sequence number at or below which every record is committed (or failed).
    fn watermark(&self) -> u64 {
        let g = self.inner.lock();
        match g.1.first() {
            Some(m) => m - 1,
            None => g.0 - 1,
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
        self.state.inner.lock().1.remove(&self.seq);
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

impl Tables {
    /// The sequence state of a stream keyspace (created on first use from its last record).
    fn stream_state(&self, space: SpaceId) -> Result<Arc<StreamState>, ApiError> {
        if let Some(s) = self.streams.lock().get(&space) {
            return Ok(Arc::clone(s));
        }
        let last = self.edge_seq(space, true)?.unwrap_or(0);
        let mut map = self.streams.lock();
        let s = map.entry(space).or_insert_with(|| {
            Arc::new(StreamState {
                inner: Mutex::new((last + 1, BTreeSet::new())),
            })
        });
        Ok(Arc::clone(s))
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
            "ApproximateCreationDateTime": (now_secs() * 1000.0).floor() / 1000.0,
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
        let state = self.stream_state(sd.space)?;
        let seq = {
            let mut g = state.inner.lock();
            let seq = g.0;
            g.0 += 1;
            g.1.insert(seq);
            seq
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
            key: seq.to_be_bytes().to_vec(),
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
        for t in self.catalog.read().values() {
            if let Some(sd) = &t.desc.stream {
                if sd.arn(&t.desc.arn(&self.opts.region, &self.opts.account_id)) == arn {
                    return Ok((Arc::clone(t), sd.clone()));
                }
            }
        }
        Err(stream_not_found(arn))
    }

    fn first_retained(&self, sd: &StreamDesc) -> Result<Option<u64>, ApiError> {
        self.edge_seq(sd.space, false)
    }

    /// The first (or, `last`, the last) sequence number stored in a stream keyspace.
    fn edge_seq(&self, space: SpaceId, last: bool) -> Result<Option<u64>, ApiError> {
        Ok(self
            .kv
            .scan(space, Bound::Unbounded, Bound::Unbounded, last)
            .map_err(storage)?
            .next()
            .transpose()
            .map_err(storage)?
            .and_then(|(k, _)| <[u8; 8]>::try_from(k.as_slice()).ok())
            .map(u64::from_be_bytes))
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
        let mut all: Vec<(String, String, String)> = self
            .catalog
            .read()
            .values()
            .filter(|t| table.is_none_or(|n| t.name() == n))
            .filter_map(|t| {
                t.desc.stream.as_ref().map(|sd| {
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

    pub(crate) fn describe_stream(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let arn = r.req_str("StreamArn")?;
        let (t, sd) = self.stream_by_arn(arn)?;
        let state = self.stream_state(sd.space)?;
        let first = self.first_retained(&sd)?;
        let watermark = state.watermark();
        let mut range = json!({"StartingSequenceNumber": seq_str(first.unwrap_or(watermark + 1))});
        if !sd.enabled {
            range["EndingSequenceNumber"] = json!(seq_str(watermark));
        }
        Ok(json!({"StreamDescription": {
            "StreamArn": arn,
            "StreamLabel": sd.label,
            "StreamStatus": if sd.enabled { "ENABLED" } else { "DISABLED" },
            "StreamViewType": sd.view_type,
            "CreationRequestDateTime": sd.created_at,
            "TableName": t.name(),
            "KeySchema": t.schema.to_json(),
            "Shards": [{"ShardId": sd.shard_id(), "SequenceNumberRange": range}],
        }}))
    }

    fn iterator(arn: &str, shard: &str, position: u64) -> String {
        format!("{}|{arn}|{shard}|{position}", (now_secs() * 1000.0) as u64)
    }

    pub(crate) fn get_shard_iterator(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let arn = r.req_str("StreamArn")?;
        let shard = r.req_str("ShardId")?;
        let kind = r
            .enum_str(
                "ShardIteratorType",
                &[
                    "TRIM_HORIZON",
                    "LATEST",
                    "AT_SEQUENCE_NUMBER",
                    "AFTER_SEQUENCE_NUMBER",
                ],
            )?
            .ok_or_else(|| Req::missing("ShardIteratorType"))?;
        let seq = r.str("SequenceNumber")?;
        let (_, sd) = self.stream_by_arn(arn)?;
        if shard != sd.shard_id() {
            return Err(ApiError::not_found(format!(
                "Requested resource not found: Shard does not exist: {shard}"
            )));
        }
        let state = self.stream_state(sd.space)?;
        let parse_seq = || -> Result<u64, ApiError> {
            let s = seq.ok_or_else(|| {
                ApiError::validation(format!(
                    "Must specify a sequence number for iterator type {kind}"
                ))
            })?;
            s.parse::<u64>()
                .map_err(|_| ApiError::validation(format!("Invalid SequenceNumber: {s}")))
        };
        let position = match kind {
            "TRIM_HORIZON" => 0,
            "LATEST" => state.watermark() + 1,
            _ => {
                let n = parse_seq()?;
                if let Some(first) = self.first_retained(&sd)? {
                    if n < first && first > 1 {
                        return Err(ApiError::new(
                            ErrorCode::TrimmedDataAccessException,
                            format!("The requested sequence number {n} is beyond the trim horizon of the shard"),
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
        Ok(json!({"ShardIterator": Self::iterator(arn, shard, position)}))
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
        let (Some(issued), Some(arn), Some(shard), Some(pos), None) = (
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
        if shard != sd.shard_id() {
            return Err(invalid());
        }
        let state = self.stream_state(sd.space)?;
        let watermark = state.watermark();
        let mut records = Vec::new();
        let mut bytes = 0usize;
        if pos <= watermark {
            let scan = self
                .kv
                .scan(
                    sd.space,
                    Bound::Included(pos.to_be_bytes().to_vec()),
                    Bound::Included(watermark.to_be_bytes().to_vec()),
                    false,
                )
                .map_err(storage)?;
            for kv in scan {
                let (k, v) = kv.map_err(storage)?;
                let seq = <[u8; 8]>::try_from(k.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| ApiError::internal("stream record key is not 8 bytes"))?;
                let body = match v.split_first() {
                    Some((&RECORD_FORMAT_VERSION, rest)) => rest,
                    _ => return Err(ApiError::internal("stream record has an unknown format")),
                };
                let rec: Value = serde_json::from_slice(body)
                    .map_err(|e| ApiError::internal(format!("stream record is corrupt: {e}")))?;
                bytes += body.len();
                records.push(rec);
                pos = seq + 1;
                if records.len() as i64 >= limit || bytes >= GET_RECORDS_BYTES_MAX {
                    break;
                }
            }
        }
        let mut out = json!({"Records": records});
        // A disabled stream's shard is closed: once drained, there is no next iterator.
        if sd.enabled || pos <= watermark {
            out["NextShardIterator"] = json!(Self::iterator(arn, shard, pos));
        }
        Ok(out)
    }

    /// Deletes stream records older than the retention period; returns how many.
    pub(crate) fn trim_streams(&self, now: f64) -> Result<usize, ApiError> {
        let streams: Vec<StreamDesc> = self
            .catalog
            .read()
            .values()
            .filter_map(|t| t.desc.stream.clone())
            .collect();
        let mut trimmed = 0;
        for sd in streams {
            let mut dead = Vec::new();
            for kv in self
                .kv
                .scan(sd.space, Bound::Unbounded, Bound::Unbounded, false)
                .map_err(storage)?
            {
                let (k, v) = kv.map_err(storage)?;
                let rec: Value =
                    serde_json::from_slice(v.get(1..).unwrap_or_default()).unwrap_or(Value::Null);
                let at = rec["dynamodb"]["ApproximateCreationDateTime"]
                    .as_f64()
                    .unwrap_or(0.0);
                if now - at <= STREAM_RETENTION_SECS || dead.len() >= 10_000 {
                    break;
                }
                dead.push(KvWrite {
                    space: sd.space,
                    key: k,
                    value: None,
                });
            }
            trimmed += dead.len();
            if !dead.is_empty() {
                self.kv.write(dead).map_err(storage)?;
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
            inner: Mutex::new((5, BTreeSet::new())),
        });
        assert_eq!(state.watermark(), 4);
        let take = |s: &Arc<StreamState>| {
            let mut g = s.inner.lock();
            let seq = g.0;
            g.0 += 1;
            g.1.insert(seq);
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

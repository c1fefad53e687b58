//! The capacity layer in the request path: every data-plane call on a table admits itself
//! with the table's [`TableCapacity`] before it touches data (a throttled call gets
//! `ProvisionedThroughputExceededException`, or `ThrottlingException` above an on-demand
//! maximum, and changes nothing), and is charged the units it consumed when it finishes —
//! including a write whose condition failed, which DynamoDB charges too.
//!
//! Off unless [`crate::api::DatabaseOptions::enforce_capacity`] is set (`hashlog serve` sets it
//! unless `--capacity off`); ConsumedCapacity is reported either way.

use std::sync::Arc;

use super::capacity::Consumed;
use super::{Table, Tables};
use crate::api::{ApiError, ErrorCode};
use crate::capacity::{
    AutoScaleConfig, AutoScaler, CapacityMode, Op, ScalingDecision, SystemClock, TableCapacity,
    Throttled, Ticket,
};
use crate::kv::SpaceId;
use crate::partition::PartitioningStrategy;

/// An admitted request's debt: charged when dropped, with `units` as set by then (the
/// minimum a request of its kind costs when the call fails before it knows more).
pub(crate) struct Charge {
    cap: Option<Arc<TableCapacity>>,
    ticket: Option<Ticket>,
    pub units: f64,
    /// A write's admissions on the table's GSIs (each GSI has its own capacity), charged with
    /// the units [`Charge::set`] found for that index (none when the write left it alone).
    gsis: Vec<(String, Arc<TableCapacity>, Ticket)>,
    gsi_units: std::collections::BTreeMap<String, f64>,
}

impl Charge {
    /// A charge that charges nothing (capacity not enforced).
    pub fn none() -> Charge {
        Charge {
            cap: None,
            ticket: None,
            units: 0.0,
            gsis: Vec::new(),
            gsi_units: Default::default(),
        }
    }

    fn admitted(cap: Arc<TableCapacity>, ticket: Ticket, units: f64) -> Charge {
        Charge {
            cap: Some(cap),
            ticket: Some(ticket),
            units,
            gsis: Vec::new(),
            gsi_units: Default::default(),
        }
    }

    /// A write's consumption: the table's units to the table, each GSI's to that GSI.
    pub fn set(&mut self, c: &Consumed) {
        self.units = c.table + c.lsi.values().sum::<f64>();
        self.gsi_units = c.gsi.clone();
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let (Some(cap), Some(t)) = (&self.cap, self.ticket.take()) {
            cap.charge(t, self.units);
        }
        for (name, cap, t) in self.gsis.drain(..) {
            cap.charge(t, self.gsi_units.get(&name).copied().unwrap_or(0.0));
        }
    }
}

/// The API error of a throttled request on the table or index with ARN `resource`
/// (`index`: a GSI's): DynamoDB's exception and message, with `ThrottlingReasons` naming the
/// limit and the resource, as the service's responses have since 2025.
pub(crate) fn throttled_error(t: &Throttled, resource: &str, index: bool) -> ApiError {
    let code = match t.error_type() {
        "ThrottlingException" => ErrorCode::ThrottlingException,
        _ => ErrorCode::ProvisionedThroughputExceededException,
    };
    let reason = if index {
        t.index_throttling_reason()
    } else {
        t.throttling_reason()
    };
    ApiError::new(code, t.message()).with_extra(
        "ThrottlingReasons",
        serde_json::json!([{"reason": reason, "resource": resource}]),
    )
}

/// A GSI's mode: its own provisioned throughput, or on-demand with its table.
fn index_mode(t: &Table, ix: &super::Index) -> CapacityMode {
    if t.desc.billing_mode == "PAY_PER_REQUEST" {
        CapacityMode::on_demand()
    } else {
        CapacityMode::provisioned(
            ix.desc.read_capacity.max(1) as u64,
            ix.desc.write_capacity.max(1) as u64,
        )
    }
}

fn mode_of(t: &Table) -> CapacityMode {
    if t.desc.billing_mode == "PAY_PER_REQUEST" {
        let max = |v: i64| (v > 0).then_some(v as u64);
        match t.desc.on_demand_max {
            Some((r, w)) => CapacityMode::OnDemand {
                max_read: max(r),
                max_write: max(w),
            },
            None => CapacityMode::on_demand(),
        }
    } else {
        CapacityMode::provisioned(
            t.desc.read_capacity.max(1) as u64,
            t.desc.write_capacity.max(1) as u64,
        )
    }
}

/// The partition-key bytes of a storage key (`xxh3 ‖ u16 length ‖ pk bytes ‖ ...`), or the
/// whole key when it is shorter than its header says (hot-key reporting only).
fn partition_key_bytes(key: &[u8]) -> &[u8] {
    if key.len() < 10 {
        return key;
    }
    let len = u16::from_be_bytes([key[8], key[9]]) as usize;
    key.get(10..10 + len).unwrap_or(key)
}

impl Tables {
    /// The capacity controller of a table, created on first use from its description.
    pub(crate) fn capacity_of(&self, t: &Table) -> Option<Arc<TableCapacity>> {
        self.controller(t.space(), t.desc.partitioning, || mode_of(t))
    }

    /// The capacity controller of a GSI (keyed by the index's keyspace).
    pub(crate) fn index_capacity_of(
        &self,
        t: &Table,
        ix: &super::Index,
    ) -> Option<Arc<TableCapacity>> {
        // A GSI's partitions follow its own key: hash ranges that split for heat, whatever
        // the table's partitioning.
        self.controller(ix.space(), PartitioningStrategy::HashSplit, || {
            index_mode(t, ix)
        })
    }

    /// Admits a write on every GSI of `t` too: a throttled index throttles the base write, as
    /// in DynamoDB. GSI partitions follow the index key, which is known only after the item is
    /// read; the admission uses the base item's partition key, the charge the real units.
    pub(crate) fn admit_write(&self, t: &Table, key: &[u8]) -> Result<Charge, ApiError> {
        let mut charge = self.admit(t, Op::Write, key)?;
        if charge.cap.is_none() {
            return Ok(charge);
        }
        for ix in t.indexes.iter().filter(|i| i.desc.global) {
            if let Some(cap) = self.index_capacity_of(t, ix) {
                let ticket = cap
                    .admit_key(Op::Write, partition_key_bytes(key))
                    .map_err(|e| throttled_error(&e, &self.index_arn(t, ix), true))?;
                charge.gsis.push((ix.name().to_string(), cap, ticket));
            }
        }
        Ok(charge)
    }

    /// Admits a read of a GSI (Query or Scan with IndexName) on the index's own capacity.
    pub(crate) fn admit_index_read(
        &self,
        t: &Table,
        ix: &super::Index,
        hash: u64,
    ) -> Result<Charge, ApiError> {
        let Some(cap) = self.index_capacity_of(t, ix) else {
            return Ok(Charge::none());
        };
        let ticket = cap
            .admit(Op::Read, hash)
            .map_err(|e| throttled_error(&e, &self.index_arn(t, ix), true))?;
        Ok(Charge::admitted(cap, ticket, 0.5))
    }

    fn table_arn(&self, t: &Table) -> String {
        t.desc.arn(&self.opts.region, &self.opts.account_id)
    }

    fn index_arn(&self, t: &Table, ix: &super::Index) -> String {
        format!("{}/index/{}", self.table_arn(t), ix.name())
    }

    fn controller(
        &self,
        space: SpaceId,
        partitioning: PartitioningStrategy,
        mode: impl FnOnce() -> CapacityMode,
    ) -> Option<Arc<TableCapacity>> {
        if !self.opts.enforce_capacity {
            return None;
        }
        if let Some(c) = self.capacity.read().get(&space) {
            return Some(Arc::clone(c));
        }
        let size = self
            .kv
            .space_stats(space)
            .map(|s| s.approximate_bytes)
            .unwrap_or(0);
        let mut map = self.capacity.write();
        let c = map.entry(space).or_insert_with(|| {
            Arc::new(TableCapacity::with_partitioning(
                mode(),
                size,
                self.opts.capacity_config.clone().unwrap_or_default(),
                match &self.opts.capacity_clock {
                    Some(c) => Arc::clone(&c.0),
                    None => Arc::new(SystemClock::new()),
                },
                partitioning,
            ))
        });
        Some(Arc::clone(c))
    }

    /// Admits one request on the item (or partition) with storage key `key`.
    pub(crate) fn admit(&self, t: &Table, op: Op, key: &[u8]) -> Result<Charge, ApiError> {
        let Some(cap) = self.capacity_of(t) else {
            return Ok(Charge::none());
        };
        let ticket = cap
            .admit_key(op, partition_key_bytes(key))
            .map_err(|e| throttled_error(&e, &self.table_arn(t), false))?;
        let units = match op {
            Op::Read => 0.5,
            Op::Write => 1.0,
        };
        Ok(Charge::admitted(cap, ticket, units))
    }

    /// Admits one request that reads a hash range (Scan), by the range's first hash.
    pub(crate) fn admit_hash(&self, t: &Table, op: Op, hash: u64) -> Result<Charge, ApiError> {
        let Some(cap) = self.capacity_of(t) else {
            return Ok(Charge::none());
        };
        let ticket = cap
            .admit(op, hash)
            .map_err(|e| throttled_error(&e, &self.table_arn(t), false))?;
        Ok(Charge::admitted(cap, ticket, 0.5))
    }

    /// Applies a table's new billing mode or throughput (UpdateTable) to its controller.
    pub(crate) fn capacity_changed(&self, t: &Table) {
        let apply = |c: &TableCapacity, mode: CapacityMode| match mode {
            CapacityMode::Provisioned { read, write } => c.set_provisioned(read, write),
            CapacityMode::OnDemand {
                max_read,
                max_write,
            } => c.set_on_demand(max_read, max_write),
        };
        let map = self.capacity.read();
        if let Some(c) = map.get(&t.space()) {
            apply(c, mode_of(t));
        }
        for ix in t.indexes.iter().filter(|i| i.desc.global) {
            if let Some(c) = map.get(&ix.space()) {
                apply(c, index_mode(t, ix));
            }
        }
    }

    /// Feeds a committed write's size change (of the item with storage key `key`) to the
    /// table's controller, so partitions split for size as the data they hold grows.
    pub(crate) fn note_size(&self, t: &Table, key: &[u8], delta: i64) {
        if let Some(cap) = self.capacity_of(t) {
            let hash = crate::key::routing_hash(key);
            cap.add_size_key(hash, partition_key_bytes(key), delta);
        }
    }

    /// Forgets a deleted table's controller.
    pub(crate) fn capacity_dropped(&self, space: SpaceId) {
        self.collections_dropped(space);
        self.capacity.write().remove(&space);
        self.scalers.lock().remove(&space);
    }

    /// One auto-scaling evaluation of every provisioned table in use: applies each decision
    /// through UpdateTable (so it is persisted, shown by DescribeTable and obeys the decrease
    /// quota) and returns what it applied.
    pub fn autoscale_once(&self) -> Vec<(String, ScalingDecision)> {
        let Some(policy) = self.opts.autoscale else {
            return Vec::new();
        };
        let mut applied = Vec::new();
        for (name, cap) in self.capacity_controllers() {
            let Some(t) = self.catalog.read().get(&name).cloned() else {
                continue;
            };
            let decision = {
                let mut scalers = self.scalers.lock();
                let s = scalers.entry(t.space()).or_insert_with(|| {
                    AutoScaler::new(Some(policy), Some(policy), AutoScaleConfig::default())
                });
                s.evaluate_stats(&cap.stats())
            };
            let Some(d) = decision else {
                continue;
            };
            let rcu = d.read.map_or(t.desc.read_capacity, |v| v as i64);
            let wcu = d.write.map_or(t.desc.write_capacity, |v| v as i64);
            if rcu == t.desc.read_capacity && wcu == t.desc.write_capacity {
                continue;
            }
            let body = serde_json::json!({"TableName": name,
                "ProvisionedThroughput": {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}});
            let applied_ok = crate::api::request::Req::new(&body)
                .and_then(|r| self.update_table(&r))
                .is_ok();
            if applied_ok {
                applied.push((name, d));
            }
        }
        applied
    }

    /// Every controller, by table name (metrics, the study).
    pub fn capacity_controllers(&self) -> Vec<(String, Arc<TableCapacity>)> {
        let map = self.capacity.read();
        self.catalog
            .read()
            .values()
            .filter_map(|t| {
                map.get(&t.space())
                    .map(|c| (t.name().to_string(), Arc::clone(c)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use crate::api::{Database, DatabaseOptions, ErrorCode};
    use crate::kv::MemKv;

    /// Capacity enforced, new tables starting cold (one second of their rate) so a short
    /// test meets the limits.
    fn enforcing() -> Database {
        let opts = DatabaseOptions {
            enforce_capacity: true,
            capacity_config: Some(crate::capacity::CapacityConfig {
                initial_burst_secs: 1,
                ..Default::default()
            }),
            ..DatabaseOptions::default()
        };
        Database::new(Arc::new(MemKv::new()), opts).expect("db")
    }

    fn create(db: &Database, name: &str, provisioned: Option<(u64, u64)>) {
        let mut t = json!({"TableName": name, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]});
        match provisioned {
            Some((r, w)) => {
                t["ProvisionedThroughput"] =
                    json!({"ReadCapacityUnits": r, "WriteCapacityUnits": w})
            }
            None => t["BillingMode"] = json!("PAY_PER_REQUEST"),
        }
        db.execute("CreateTable", t.to_string().as_bytes())
            .expect("create");
    }

    fn put(
        db: &Database,
        table: &str,
        i: usize,
    ) -> Result<serde_json::Value, crate::api::ApiError> {
        db.execute(
            "PutItem",
            json!({"TableName": table, "Item": {"pk": {"S": format!("k{i}")}}})
                .to_string()
                .as_bytes(),
        )
    }

    #[test]
    fn a_one_wcu_table_throttles_a_burst_and_on_demand_does_not() {
        let db = enforcing();
        create(&db, "tiny", Some((1, 1)));
        create(&db, "free", None);
        let mut throttled = 0;
        for i in 0..50 {
            if let Err(e) = put(&db, "tiny", i) {
                assert_eq!(e.code, ErrorCode::ProvisionedThroughputExceededException);
                assert_eq!(e.message, "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.");
                throttled += 1;
            }
        }
        assert!(throttled >= 40, "only {throttled} of 50 throttled at 1 WCU");
        for i in 0..300 {
            put(&db, "free", i).expect("on-demand absorbs 300 writes");
        }
        // Right after an admitted write the bucket is in debt for about a second: a batch
        // whose every request is throttled fails as a whole.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while put(&db, "tiny", 999).is_err() {
            assert!(std::time::Instant::now() < deadline, "never admitted again");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = db
            .execute(
                "BatchWriteItem",
                json!({"RequestItems": {"tiny": [{"PutRequest": {"Item": {"pk": {"S": "b1"}}}}]}})
                    .to_string()
                    .as_bytes(),
            )
            .expect_err("all throttled");
        assert_eq!(out.code, ErrorCode::ProvisionedThroughputExceededException);
        // Raising the throughput takes effect at once.
        db.execute(
            "UpdateTable",
            json!({"TableName": "tiny", "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1000}})
                .to_string()
                .as_bytes(),
        )
        .expect("update");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let ok = (100..150).filter(|i| put(&db, "tiny", *i).is_ok()).count();
        assert!(ok >= 45, "{ok} of 50 admitted at 1000 WCU");
    }

    #[test]
    fn a_throttled_transactional_read_cancels_the_transaction() {
        let db = enforcing();
        create(&db, "tiny", Some((1, 1000)));
        put(&db, "tiny", 1).expect("put");
        let get = json!({"TransactItems": [
            {"Get": {"TableName": "tiny", "Key": {"pk": {"S": "k1"}}}},
            {"Get": {"TableName": "tiny", "Key": {"pk": {"S": "k2"}}}},
        ]});
        let mut cancelled = 0;
        for _ in 0..50 {
            match db.execute("TransactGetItems", get.to_string().as_bytes()) {
                Ok(out) => assert_eq!(out["Responses"][0]["Item"]["pk"]["S"], "k1"),
                Err(e) => {
                    assert_eq!(e.code, ErrorCode::TransactionCanceledException, "{e}");
                    let reasons = e.extra["CancellationReasons"].as_array().expect("reasons");
                    assert_eq!(reasons.len(), 2, "one reason per item");
                    assert!(
                        reasons.iter().any(|r| r["Code"] == "ThrottlingError"),
                        "{reasons:?}"
                    );
                    assert!(e.message.starts_with("Transaction cancelled"), "{e}");
                    cancelled += 1;
                }
            }
        }
        // Each admitted transaction costs 4 RCU (2 per item) against 1 RCU/s.
        assert!(cancelled >= 40, "only {cancelled} of 50 cancelled at 1 RCU");
    }

    #[test]
    fn on_demand_maximum_throttles_with_throttling_exception() {
        let db = enforcing();
        let t = json!({"TableName": "capped", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "OnDemandThroughput": {"MaxReadRequestUnits": -1, "MaxWriteRequestUnits": 1}});
        let out = db
            .execute("CreateTable", t.to_string().as_bytes())
            .expect("create");
        assert_eq!(
            out["TableDescription"]["OnDemandThroughput"],
            json!({"MaxReadRequestUnits": -1, "MaxWriteRequestUnits": 1})
        );
        let codes: Vec<ErrorCode> = (0..30)
            .filter_map(|i| put(&db, "capped", i).err())
            .map(|e| e.code)
            .collect();
        assert!(
            !codes.is_empty(),
            "a 1 WRU maximum throttles 30 back-to-back writes"
        );
        assert!(
            codes.iter().all(|c| *c == ErrorCode::ThrottlingException),
            "{codes:?}"
        );
        let bad = json!({"TableName": "capped", "OnDemandThroughput": {"MaxWriteRequestUnits": 0}});
        let e = db
            .execute("UpdateTable", bad.to_string().as_bytes())
            .expect_err("0 is invalid");
        assert_eq!(e.code, ErrorCode::ValidationException);
    }

    #[test]
    fn auto_scaling_raises_a_busy_table_on_the_simulated_clock() {
        use crate::api::CapacityClock;
        use crate::capacity::{ScalingPolicy, SimClock};
        let clock = Arc::new(SimClock::new(1_800_000_000_000_000));
        let opts = DatabaseOptions {
            enforce_capacity: true,
            capacity_clock: Some(CapacityClock(clock.clone())),
            autoscale: Some(ScalingPolicy::new(50, 1, 1000).expect("policy")),
            ..DatabaseOptions::default()
        };
        let db = Database::new(Arc::new(MemKv::new()), opts).expect("db");
        create(&db, "busy", Some((10, 10)));
        let mut applied = Vec::new();
        // 9 writes a second at 10 WCU (90 % against a 50 % target) for 4 simulated minutes.
        for sec in 0..240u64 {
            for i in 0..9 {
                put(&db, "busy", (sec * 9 + i) as usize).expect("within capacity");
            }
            clock.advance(std::time::Duration::from_secs(1));
            applied.extend(db.tables().autoscale_once());
        }
        assert!(
            !applied.is_empty(),
            "no scaling decision in 4 minutes at 90 %"
        );
        let d = db
            .execute(
                "DescribeTable",
                json!({"TableName": "busy"}).to_string().as_bytes(),
            )
            .expect("describe");
        let wcu = d["Table"]["ProvisionedThroughput"]["WriteCapacityUnits"]
            .as_i64()
            .unwrap_or(0);
        assert!(
            (18..=20).contains(&wcu),
            "WCU {wcu} after scaling out to 9/0.5"
        );
    }

    #[test]
    fn a_throttled_gsi_throttles_base_writes() {
        let db = enforcing();
        let t = json!({"TableName": "gsitab", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": 1000, "WriteCapacityUnits": 1000},
            "GlobalSecondaryIndexes": [{"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}]});
        db.execute("CreateTable", t.to_string().as_bytes())
            .expect("create");
        let mut throttled = 0;
        for i in 0..50 {
            let item = json!({"TableName": "gsitab", "Item": {"pk": {"S": format!("k{i}")}, "g": {"S": "x"}}});
            if let Err(e) = db.execute("PutItem", item.to_string().as_bytes()) {
                assert_eq!(e.code, ErrorCode::ProvisionedThroughputExceededException);
                throttled += 1;
            }
        }
        assert!(
            throttled >= 40,
            "a 1 WCU index let {} of 50 writes through",
            50 - throttled
        );
        // Reads of the index use its own (1 RCU) capacity, not the table's 1,000.
        let q = json!({"TableName": "gsitab", "IndexName": "byG", "KeyConditionExpression": "g = :g",
            "ExpressionAttributeValues": {":g": {"S": "x"}}});
        let errs = (0..50)
            .filter(|_| db.execute("Query", q.to_string().as_bytes()).is_err())
            .count();
        assert!(
            errs >= 40,
            "only {errs} of 50 index queries throttled at 1 RCU"
        );
    }
}

//! Concurrency against the real server: 8 client threads over HTTP, for a bounded time, doing
//! conflicting operations on a few keys of a table on the storage engine (sync durability):
//!
//! - registers `r0`, `r1`: consistent reads and version compare-and-set puts
//!   (`ConditionExpression: ver = :old`, or `attribute_not_exists(pk)` for the first);
//! - counters `c0`, `c1`: `UpdateItem ADD n :one` (returning the new value) and consistent reads;
//! - accounts `a`, `b`: `TransactWriteItems` moving 1–30 units from one to the other on the
//!   condition that the source holds enough, and `TransactGetItems` of both.
//!
//! Every operation's invocation and response time and outcome is recorded; afterwards each
//! key's history (plus a final read of every key) is checked for linearizability against its
//! sequential model with the Wing–Gong/Lowe search in `common/linearizability.rs`. Also: each
//! counter ends at exactly the number of acknowledged increments (no lost update), every
//! acknowledged CAS wrote a version no other acknowledged CAS wrote, and every read of the two
//! accounts sums to the initial total.
//!
//! `HASHLOG_LIN_SEED` replays the operation choices (printed), `HASHLOG_LIN_MILLIS` sets the
//! run time (default 4000), `HASHLOG_LIN_THREADS` the client threads (default 8).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use common::linearizability::{
    check, Accounts, AccountsOp, Counter, CounterOp, Event, Model, Outcome, RegisterOp, Report,
    Verdict, VersionRegister, NO_RESPONSE,
};
use common::{env_usize, seed_from_env, Conn, Reply, TestServer};
use hashlog::wal::Durability;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const TABLE: &str = "lin";
const REGISTERS: &[&str] = &["r0", "r1"];
const COUNTERS: &[&str] = &["c0", "c1"];
const INITIAL: (i64, i64) = (100, 100);
const STEP_BUDGET: usize = 50_000_000;

// ---------------------------------------------------------------------------------------------
// The checker on hand-made histories: it accepts what is linearizable and rejects what is not.

fn ev<O>(call: u64, ret: u64, op: O) -> Event<O> {
    Event { call, ret, op }
}

fn verdict<M: Model>(m: &M, h: &[Event<M::Op>]) -> Verdict {
    check(m, h, 1_000_000).verdict
}

fn cas(expect: Option<u64>, ver: u64, outcome: Outcome) -> RegisterOp {
    RegisterOp::Cas {
        expect,
        new: (ver, ver * 10),
        outcome,
    }
}

fn read(v: Option<u64>) -> RegisterOp {
    RegisterOp::Read(v.map(|ver| (ver, ver * 10)))
}

#[test]
fn checker_accepts_sequential_and_overlapping_register_histories() {
    let m = VersionRegister;
    let seq = [
        ev(0, 1, read(None)),
        ev(2, 3, cas(None, 1, Outcome::Ok)),
        ev(4, 5, read(Some(1))),
        ev(6, 7, cas(None, 1, Outcome::Failed)),
        ev(8, 9, cas(Some(1), 2, Outcome::Ok)),
        ev(10, 11, read(Some(2))),
    ];
    assert_eq!(verdict(&m, &seq), Verdict::Linearizable);
    // A read overlapping a write may see either value; here one sees the new value, a later
    // overlapping one still the old: fine only because the old read can go first.
    let overlap = [
        ev(0, 1, cas(None, 1, Outcome::Ok)),
        ev(2, 10, cas(Some(1), 2, Outcome::Ok)),
        ev(3, 6, read(Some(2))),
        ev(4, 9, read(Some(1))),
    ];
    assert_eq!(verdict(&m, &overlap), Verdict::Linearizable);
    // Listed out of time order: the checker sorts.
    let mut shuffled = seq.to_vec();
    shuffled.reverse();
    assert_eq!(verdict(&m, &shuffled), Verdict::Linearizable);
}

#[test]
fn checker_rejects_stale_reads_lost_updates_and_impossible_failures() {
    let m = VersionRegister;
    // A read that starts after a write finished returns the old value.
    let stale = [
        ev(0, 1, cas(None, 1, Outcome::Ok)),
        ev(2, 3, cas(Some(1), 2, Outcome::Ok)),
        ev(4, 5, read(Some(1))),
    ];
    assert_eq!(verdict(&m, &stale), Verdict::Violation);
    // New then old, both overlapping the write but not each other.
    let flicker = [
        ev(0, 1, cas(None, 1, Outcome::Ok)),
        ev(2, 20, cas(Some(1), 2, Outcome::Ok)),
        ev(3, 5, read(Some(2))),
        ev(6, 8, read(Some(1))),
    ];
    assert_eq!(verdict(&m, &flicker), Verdict::Violation);
    // Two CAS from the same version both succeed: a lost update.
    let lost = [
        ev(0, 1, cas(None, 1, Outcome::Ok)),
        ev(2, 5, cas(Some(1), 2, Outcome::Ok)),
        ev(
            3,
            6,
            RegisterOp::Cas {
                expect: Some(1),
                new: (2, 99),
                outcome: Outcome::Ok,
            },
        ),
    ];
    assert_eq!(verdict(&m, &lost), Verdict::Violation);
    // A CAS that failed although nothing could have changed the version.
    let bogus_failure = [
        ev(0, 1, cas(None, 1, Outcome::Ok)),
        ev(2, 3, cas(Some(1), 2, Outcome::Failed)),
    ];
    assert_eq!(verdict(&m, &bogus_failure), Verdict::Violation);
    // A value nobody wrote.
    assert_eq!(verdict(&m, &[ev(0, 1, read(Some(7)))]), Verdict::Violation);
}

#[test]
fn checker_lets_unanswered_writes_happen_late_or_never() {
    let m = VersionRegister;
    for seen in [None, Some(1)] {
        let h = [
            ev(0, NO_RESPONSE, cas(None, 1, Outcome::Unknown)),
            ev(5, 6, read(seen)),
            ev(7, 8, read(seen)),
        ];
        assert_eq!(verdict(&m, &h), Verdict::Linearizable, "{seen:?}");
    }
    // But once seen it cannot be unseen.
    let h = [
        ev(0, NO_RESPONSE, cas(None, 1, Outcome::Unknown)),
        ev(5, 6, read(Some(1))),
        ev(7, 8, read(None)),
    ];
    assert_eq!(verdict(&m, &h), Verdict::Violation);
}

#[test]
fn checker_counter_and_accounts_models() {
    let lost = [
        ev(0, 5, CounterOp::Inc(Some(1))),
        ev(1, 6, CounterOp::Inc(Some(1))),
    ];
    assert_eq!(verdict(&Counter, &lost), Verdict::Violation);
    let ok = [
        ev(0, 5, CounterOp::Inc(Some(2))),
        ev(1, 6, CounterOp::Inc(Some(1))),
        ev(2, 3, CounterOp::Read(1)),
        ev(7, 8, CounterOp::Read(2)),
    ];
    assert_eq!(verdict(&Counter, &ok), Verdict::Linearizable);
    let low_final = [
        ev(0, 1, CounterOp::Inc(Some(1))),
        ev(2, 3, CounterOp::Inc(None)),
        ev(4, 5, CounterOp::Read(1)),
    ];
    assert_eq!(verdict(&Counter, &low_final), Verdict::Violation);

    let m = Accounts { initial: (10, 0) };
    let t = |a_to_b, amount, outcome| AccountsOp::Transfer {
        a_to_b,
        amount,
        outcome,
    };
    let good = [
        ev(0, 1, t(true, 4, Outcome::Ok)),
        ev(2, 3, t(true, 7, Outcome::Failed)),
        ev(4, 5, AccountsOp::Read(6, 4)),
        ev(6, 9, t(false, 4, Outcome::Ok)),
        ev(7, 8, AccountsOp::Read(6, 4)),
    ];
    assert_eq!(verdict(&m, &good), Verdict::Linearizable);
    // Cancelled for lack of funds although the source had enough.
    let bad = [ev(0, 1, t(true, 4, Outcome::Failed))];
    assert_eq!(verdict(&m, &bad), Verdict::Violation);
    // Half a transfer seen.
    let half = [
        ev(0, 1, t(true, 4, Outcome::Ok)),
        ev(2, 3, AccountsOp::Read(6, 0)),
    ];
    assert_eq!(verdict(&m, &half), Verdict::Violation);
}

/// A random linearizable history (ops applied to the model at random points inside random
/// intervals, 8 at a time) passes quickly; making one read return a stale value fails it.
#[test]
fn checker_scales_to_long_concurrent_histories_and_finds_one_bad_read() {
    let mut rng = SmallRng::seed_from_u64(7);
    let m = VersionRegister;
    let mut state: Option<(u64, u64)> = None;
    let mut h = Vec::new();
    let mut t = 1_000u64;
    for i in 0..3000u64 {
        // The linearization point is t; the interval is around it.
        let call = t - rng.gen_range(0..800);
        let ret = t + rng.gen_range(0..800);
        let op = if rng.gen_bool(0.5) {
            read(state.map(|(v, _)| v))
        } else if rng.gen_bool(0.8) {
            let cur = state.map(|(v, _)| v);
            let next = cur.unwrap_or(0) + 1;
            state = Some((next, next * 10));
            cas(cur, next, Outcome::Ok)
        } else {
            cas(Some(i + 1_000_000), 5, Outcome::Failed)
        };
        h.push(ev(call, ret, op));
        t += 100;
    }
    let r = check(&m, &h, STEP_BUDGET);
    assert_eq!(r.verdict, Verdict::Linearizable, "{r:?}");
    // Make a read well after the start return a version that was overwritten long before.
    let i = h
        .iter()
        .enumerate()
        .skip(2000)
        .find(|(_, e)| matches!(e.op, RegisterOp::Read(Some(_))))
        .map(|(i, _)| i)
        .expect("a read");
    h[i].op = read(Some(1));
    let r = check(&m, &h, STEP_BUDGET);
    assert_eq!(r.verdict, Verdict::Violation, "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// The run against the server.

/// What one client thread observed, per object.
#[derive(Default)]
struct Observed {
    registers: BTreeMap<&'static str, Vec<Event<RegisterOp>>>,
    counters: BTreeMap<&'static str, Vec<Event<CounterOp>>>,
    accounts: Vec<Event<AccountsOp>>,
    /// Errors that say the operation did not happen (conflicts, throttling), by type.
    refused: BTreeMap<String, usize>,
    /// Operations with no answer or a 5xx: their effect is unknown.
    unanswered: Vec<String>,
}

/// How a write's answer classifies.
enum Answer {
    Ok(Value),
    /// Error type and body; the operation had no effect.
    Refused(String, Value),
    /// No answer, or a server error: may or may not have happened.
    Unknown(String),
}

fn answer(r: Result<Reply, String>) -> Answer {
    match r {
        Err(e) => Answer::Unknown(e),
        Ok(r) if r.status == 200 => Answer::Ok(r.json().unwrap_or(Value::Null)),
        Ok(r) if r.status == 400 => Answer::Refused(r.error_name(), r.json().unwrap_or_default()),
        Ok(r) => Answer::Unknown(format!("{} {}", r.status, String::from_utf8_lossy(&r.body))),
    }
}

fn num(v: &Value) -> Option<i64> {
    v["N"].as_str().and_then(|s| s.parse().ok())
}

struct Client {
    conn: Conn,
    start: Instant,
    obs: Observed,
    thread: u64,
    seq: u64,
}

impl Client {
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// One call; a transport failure replaces the connection.
    fn call(&mut self, op: &str, body: &Value) -> (u64, Answer, u64) {
        let call = self.now();
        let r = self.conn.call(op, body);
        let ret = self.now();
        if r.is_err() {
            self.conn = Conn::new(self.conn.addr);
        }
        (call, answer(r), ret)
    }

    fn refused(&mut self, name: &str) {
        *self.obs.refused.entry(name.to_string()).or_default() += 1;
    }

    fn unknown(&mut self, op: &str, e: String) {
        self.obs.unanswered.push(format!("{op}: {e}"));
    }

    fn read_register(&mut self, key: &'static str) -> Option<Option<(u64, u64)>> {
        let (call, a, ret) = self.call(
            "GetItem",
            &json!({"TableName": TABLE, "Key": {"pk": {"S": key}}, "ConsistentRead": true}),
        );
        match a {
            Answer::Ok(v) => {
                let got = v.get("Item").map(|i| {
                    (
                        num(&i["ver"]).unwrap_or(-1) as u64,
                        num(&i["val"]).unwrap_or(-1) as u64,
                    )
                });
                self.obs.registers.entry(key).or_default().push(ev(
                    call,
                    ret,
                    RegisterOp::Read(got),
                ));
                Some(got)
            }
            Answer::Refused(name, _) => {
                self.refused(&name);
                None
            }
            Answer::Unknown(e) => {
                self.unknown("GetItem", e);
                None
            }
        }
    }

    /// Reads the register, then tries to install the next version.
    fn cas_register(&mut self, key: &'static str) {
        let Some(cur) = self.read_register(key) else {
            return;
        };
        self.seq += 1;
        let expect = cur.map(|(v, _)| v);
        let new = (expect.unwrap_or(0) + 1, (self.thread << 32) | self.seq);
        let mut body = json!({"TableName": TABLE, "Item": {
            "pk": {"S": key}, "ver": {"N": new.0.to_string()}, "val": {"N": new.1.to_string()}}});
        match expect {
            None => body["ConditionExpression"] = json!("attribute_not_exists(pk)"),
            Some(v) => {
                body["ConditionExpression"] = json!("ver = :old");
                body["ExpressionAttributeValues"] = json!({":old": {"N": v.to_string()}});
            }
        }
        let (call, a, ret) = self.call("PutItem", &body);
        let (outcome, ret) = match a {
            Answer::Ok(_) => (Outcome::Ok, ret),
            Answer::Refused(name, _) if name == "ConditionalCheckFailedException" => {
                (Outcome::Failed, ret)
            }
            Answer::Refused(name, _) => {
                self.refused(&name);
                return;
            }
            Answer::Unknown(e) => {
                self.unknown("PutItem", e);
                (Outcome::Unknown, NO_RESPONSE)
            }
        };
        self.obs.registers.entry(key).or_default().push(ev(
            call,
            ret,
            RegisterOp::Cas {
                expect,
                new,
                outcome,
            },
        ));
    }

    fn increment(&mut self, key: &'static str) {
        let (call, a, ret) = self.call(
            "UpdateItem",
            &json!({"TableName": TABLE, "Key": {"pk": {"S": key}},
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                    "ReturnValues": "UPDATED_NEW"}),
        );
        let (op, ret) = match a {
            Answer::Ok(v) => (CounterOp::Inc(num(&v["Attributes"]["n"])), ret),
            Answer::Refused(name, _) => {
                self.refused(&name);
                return;
            }
            Answer::Unknown(e) => {
                self.unknown("UpdateItem", e);
                (CounterOp::Inc(None), NO_RESPONSE)
            }
        };
        self.obs
            .counters
            .entry(key)
            .or_default()
            .push(ev(call, ret, op));
    }

    fn read_counter(&mut self, key: &'static str) {
        let (call, a, ret) = self.call(
            "GetItem",
            &json!({"TableName": TABLE, "Key": {"pk": {"S": key}}, "ConsistentRead": true}),
        );
        match a {
            Answer::Ok(v) => {
                let n = v
                    .get("Item")
                    .map(|i| num(&i["n"]).unwrap_or(-1))
                    .unwrap_or(0);
                self.obs
                    .counters
                    .entry(key)
                    .or_default()
                    .push(ev(call, ret, CounterOp::Read(n)));
            }
            Answer::Refused(name, _) => self.refused(&name),
            Answer::Unknown(e) => self.unknown("GetItem", e),
        }
    }

    fn transfer(&mut self, a_to_b: bool, amount: i64) {
        let (from, to) = if a_to_b { ("a", "b") } else { ("b", "a") };
        let amt = json!({":amt": {"N": amount.to_string()}});
        let (call, a, ret) = self.call(
            "TransactWriteItems",
            &json!({"TransactItems": [
                {"Update": {"TableName": TABLE, "Key": {"pk": {"S": from}},
                            "UpdateExpression": "SET bal = bal - :amt",
                            "ConditionExpression": "bal >= :amt",
                            "ExpressionAttributeValues": amt}},
                {"Update": {"TableName": TABLE, "Key": {"pk": {"S": to}},
                            "UpdateExpression": "SET bal = bal + :amt",
                            "ExpressionAttributeValues": amt}},
            ]}),
        );
        let (outcome, ret) = match a {
            Answer::Ok(_) => (Outcome::Ok, ret),
            Answer::Refused(name, body) => {
                let insufficient = name == "TransactionCanceledException"
                    && body["CancellationReasons"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|x| x["Code"] == "ConditionalCheckFailed"));
                if !insufficient {
                    self.refused(&name);
                    return;
                }
                (Outcome::Failed, ret)
            }
            Answer::Unknown(e) => {
                self.unknown("TransactWriteItems", e);
                (Outcome::Unknown, NO_RESPONSE)
            }
        };
        self.obs.accounts.push(ev(
            call,
            ret,
            AccountsOp::Transfer {
                a_to_b,
                amount,
                outcome,
            },
        ));
    }

    fn read_accounts(&mut self) {
        let (call, a, ret) = self.call(
            "TransactGetItems",
            &json!({"TransactItems": [
                {"Get": {"TableName": TABLE, "Key": {"pk": {"S": "a"}}}},
                {"Get": {"TableName": TABLE, "Key": {"pk": {"S": "b"}}}},
            ]}),
        );
        match a {
            Answer::Ok(v) => {
                let bal = |i: usize| num(&v["Responses"][i]["Item"]["bal"]).unwrap_or(i64::MIN);
                self.obs
                    .accounts
                    .push(ev(call, ret, AccountsOp::Read(bal(0), bal(1))));
            }
            Answer::Refused(name, _) => self.refused(&name),
            Answer::Unknown(e) => self.unknown("TransactGetItems", e),
        }
    }
}

fn run_client(
    addr: std::net::SocketAddr,
    start: Instant,
    deadline: Instant,
    thread: u64,
    seed: u64,
) -> Observed {
    let mut rng = SmallRng::seed_from_u64(seed ^ (thread.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    let mut c = Client {
        conn: Conn::new(addr),
        start,
        obs: Observed::default(),
        thread,
        seq: 0,
    };
    while Instant::now() < deadline {
        let r = REGISTERS[rng.gen_range(0..REGISTERS.len())];
        let k = COUNTERS[rng.gen_range(0..COUNTERS.len())];
        match rng.gen_range(0..100) {
            0..=14 => {
                c.read_register(r);
            }
            15..=39 => c.cas_register(r),
            40..=59 => c.increment(k),
            60..=67 => c.read_counter(k),
            68..=87 => c.transfer(rng.gen_bool(0.5), rng.gen_range(1..=30)),
            _ => c.read_accounts(),
        }
    }
    c.obs
}

fn report_line(what: &str, n: usize, r: &Report, took: Duration) -> String {
    format!(
        "  {what:>9}: {n:6} ops, {:?} ({} search steps, {} states cached, {took:.1?})",
        r.verdict, r.steps, r.cache_entries
    )
}

#[test]
fn concurrent_conditional_writes_and_transactions_are_linearizable() {
    let seed = seed_from_env("HASHLOG_LIN_SEED");
    let millis = env_usize("HASHLOG_LIN_MILLIS", 4000).min(30_000);
    let threads = env_usize("HASHLOG_LIN_THREADS", 8).clamp(1, 64);
    let mut srv = TestServer::start(Durability::Sync, common::test_config());
    let mut c = srv.connect();
    let ok = |r: Result<Reply, String>| {
        let r = r.expect("answer");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    };
    ok(c.call(
        "CreateTable",
        &json!({"TableName": TABLE,
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST"}),
    ));
    for (k, bal) in [("a", INITIAL.0), ("b", INITIAL.1)] {
        ok(c.call(
            "PutItem",
            &json!({"TableName": TABLE, "Item": {"pk": {"S": k}, "bal": {"N": bal.to_string()}}}),
        ));
    }

    let start = Instant::now();
    let deadline = start + Duration::from_millis(millis as u64);
    let addr = srv.addr;
    let handles: Vec<_> = (0..threads as u64)
        .map(|t| std::thread::spawn(move || run_client(addr, start, deadline, t, seed)))
        .collect();
    let mut all = Observed::default();
    for h in handles {
        let o = h.join().expect("client thread");
        for (k, v) in o.registers {
            all.registers.entry(k).or_default().extend(v);
        }
        for (k, v) in o.counters {
            all.counters.entry(k).or_default().extend(v);
        }
        all.accounts.extend(o.accounts);
        for (k, n) in o.refused {
            *all.refused.entry(k).or_default() += n;
        }
        all.unanswered.extend(o.unanswered);
    }
    let ran = start.elapsed();

    // Quiescent final reads join the histories.
    let mut fin = Client {
        conn: srv.connect(),
        start,
        obs: Observed::default(),
        thread: 1_000,
        seq: 0,
    };
    for r in REGISTERS {
        fin.read_register(r);
    }
    for k in COUNTERS {
        fin.read_counter(k);
    }
    fin.read_accounts();
    let finals = fin.obs;
    let mut final_counters = BTreeMap::new();
    for (k, v) in finals.registers {
        all.registers.entry(k).or_default().extend(v);
    }
    for (k, v) in finals.counters {
        if let Some(CounterOp::Read(n)) = v.last().map(|e| &e.op) {
            final_counters.insert(k, *n);
        }
        all.counters.entry(k).or_default().extend(v);
    }
    all.accounts.extend(finals.accounts);
    assert!(
        finals.unanswered.is_empty() && finals.refused.is_empty(),
        "final reads failed"
    );
    srv.stop().expect("clean stop");

    let mut problems = Vec::new();
    let mut lines = Vec::new();
    let mut total_ops = 0;

    // (a) No lost increment: the final value is the number of acknowledged increments (plus
    // at most the unanswered ones).
    for k in COUNTERS {
        let h = all.counters.get(k).map(Vec::as_slice).unwrap_or(&[]);
        let acked = h
            .iter()
            .filter(|e| e.ret != NO_RESPONSE && matches!(e.op, CounterOp::Inc(_)))
            .count() as i64;
        let unknown = h.iter().filter(|e| e.ret == NO_RESPONSE).count() as i64;
        let got = final_counters.get(k).copied().unwrap_or(-1);
        if got < acked || got > acked + unknown {
            problems.push(format!(
                "counter {k}: final {got}, {acked} acknowledged increments, {unknown} unanswered"
            ));
        }
        lines.push(format!(
            "  counter {k}: {acked} acknowledged increments, final value {got}"
        ));
    }

    // The versions acknowledged CAS writes installed are distinct.
    for (k, h) in &all.registers {
        let mut versions = HashSet::new();
        for e in h {
            if let RegisterOp::Cas {
                new,
                outcome: Outcome::Ok,
                ..
            } = e.op
            {
                if !versions.insert(new.0) {
                    problems.push(format!(
                        "register {k}: version {} acknowledged twice",
                        new.0
                    ));
                }
            }
        }
        lines.push(format!(
            "  register {k}: {} acknowledged CAS writes",
            versions.len()
        ));
    }

    // (c) Every read of both accounts sees the initial total.
    let total = INITIAL.0 + INITIAL.1;
    let mut transfers = [0usize; 3];
    let mut reads = 0;
    for e in &all.accounts {
        match e.op {
            AccountsOp::Read(a, b) => {
                reads += 1;
                if a + b != total || a < 0 || b < 0 {
                    problems.push(format!("accounts read ({a}, {b}): total is not {total}"));
                }
            }
            AccountsOp::Transfer { outcome, .. } => {
                transfers[match outcome {
                    Outcome::Ok => 0,
                    Outcome::Failed => 1,
                    Outcome::Unknown => 2,
                }] += 1
            }
        }
    }
    lines.push(format!(
        "  accounts: {} transfers committed, {} cancelled for lack of funds, {} unanswered; \
         {reads} transactional reads, all summing to {total}",
        transfers[0], transfers[1], transfers[2]
    ));

    // (b) Linearizability of every key's history.
    for (k, h) in &all.registers {
        let t = Instant::now();
        let r = check(&VersionRegister, h, STEP_BUDGET);
        lines.push(report_line(k, h.len(), &r, t.elapsed()));
        total_ops += h.len();
        if r.verdict != Verdict::Linearizable {
            problems.push(format!("register {k}: {:?}", r.verdict));
        }
    }
    for (k, h) in &all.counters {
        let t = Instant::now();
        let r = check(&Counter, h, STEP_BUDGET);
        lines.push(report_line(k, h.len(), &r, t.elapsed()));
        total_ops += h.len();
        if r.verdict != Verdict::Linearizable {
            problems.push(format!("counter {k}: {:?}", r.verdict));
        }
    }
    {
        let t = Instant::now();
        let r = check(&Accounts { initial: INITIAL }, &all.accounts, STEP_BUDGET);
        lines.push(report_line("a+b", all.accounts.len(), &r, t.elapsed()));
        total_ops += all.accounts.len();
        if r.verdict != Verdict::Linearizable {
            problems.push(format!("accounts: {:?}", r.verdict));
        }
    }

    eprintln!(
        "linearizability: seed {seed}, {threads} threads for {ran:.1?}: {total_ops} operations \
         recorded ({:.0}/s), refused without effect: {:?}, unanswered: {}",
        total_ops as f64 / ran.as_secs_f64(),
        all.refused,
        all.unanswered.len()
    );
    for l in &lines {
        eprintln!("{l}");
    }
    for u in all.unanswered.iter().take(5) {
        eprintln!("  unanswered: {u}");
    }
    assert!(
        problems.is_empty(),
        "seed {seed}: {} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        all.unanswered.is_empty(),
        "{} operations got no answer or a server error; first: {}",
        all.unanswered.len(),
        all.unanswered[0]
    );
}

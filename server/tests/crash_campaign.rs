//! Server-level crash campaign: the real `hashlog` binary (sync durability, capacity
//! enforcement off) runs as a child process on 127.0.0.1:0 over a temporary data directory; 4
//! client threads drive a mixed DynamoDB workload over HTTP for a random 0.3–1.5 s and the child
//! is killed with SIGKILL while they write. It is then restarted on the same directory and the
//! recovered state is checked against an expected-state oracle, and the next round runs against
//! the restarted server.
//!
//! The table has a hash + range key, a GSI `byg` (`g`, `tok`; ALL, sparse on `g`), an LSI `byl`
//! (`pk`, `l`; KEYS_ONLY, sparse on `l`) and a NEW_AND_OLD_IMAGES stream. Every key belongs to
//! one client thread (so each key's operations are sequential and the oracle is exact), while the
//! GSI partitions are shared by all threads. Single-key operations (PutItem, UpdateItem with
//! SET/REMOVE/ADD and varying ReturnValues, DeleteItem, each sometimes conditional, consistent
//! GetItem, 2–4-key BatchWriteItem of puts and deletes) use their own keys; TransactWriteItems
//! over 2–3 keys of a transaction group (Put or Update, sometimes conditional) write the same
//! token to every key, on keys no other kind of operation touches.
//!
//! The oracle keeps, per key, the set of states it can be in: an acknowledged write maps each
//! candidate whose condition holds (and whose returned image matches what the server answered)
//! to its new state; a refusal by condition keeps the candidates whose condition fails; a refusal
//! without effect (other 4xx) keeps them all; an unanswered write (no response, dropped
//! connection, 5xx) adds the states it would produce. An empty candidate set is a violation.
//! After each restart:
//!
//! - a consistent Scan of the table must give, for every key, one of its candidates (so every
//!   acknowledged write is there with its exact item, no acknowledged delete is back) and no
//!   item nobody wrote; the candidates then collapse to what was observed (in-flight resolved);
//! - an unanswered transaction whose token is on one of its keys must be on all of them, unless
//!   a later transaction of the same thread overwrote that key;
//! - every GSI partition (Query), the whole GSI (Scan) and every LSI item collection (Query,
//!   consistent) equal the index recomputed from the Scan;
//! - the stream, read on from where the previous check stopped, gives every key's last image
//!   equal to its item in the table (absent after a REMOVE).
//!
//! `HASHLOG_SRV_CRASH_SEED` replays the operation choices and kill times (printed; thread
//! timing still varies), `HASHLOG_SRV_CRASH_ROUNDS` sets the number of kills (default 4).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{env_usize, seed_from_env, ChildServer as Server, Conn, Reply};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

const TABLE: &str = "crashcamp";
const GSI: &str = "byg";
const LSI: &str = "byl";
const THREADS: usize = 4;
/// Single-key items per thread: PKS item collections of SKS items.
const PKS: usize = 4;
const SKS: usize = 6;
/// Transaction groups per thread, of GROUP_KEYS keys (each its own partition key).
const GROUPS: usize = 6;
const GROUP_KEYS: usize = 3;
const G_VALUES: usize = 6;
const L_VALUES: usize = 12;
/// How the campaign runs the server: sync durability, capacity enforcement off.
const SERVER_ARGS: &[&str] = &["--durability", "sync", "--capacity", "off", "--log", "warn"];

type Item = Map<String, Value>;
type Key = (String, String);
/// What a key can hold: `None` is absent.
type State = Option<Item>;

fn s(v: &str) -> Value {
    json!({ "S": v })
}

fn key_json(k: &Key) -> Value {
    json!({"pk": s(&k.0), "sk": s(&k.1)})
}

fn key_of(item: &Item) -> Option<Key> {
    Some((
        item.get("pk")?["S"].as_str()?.to_string(),
        item.get("sk")?["S"].as_str()?.to_string(),
    ))
}

fn str_attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?["S"].as_str()
}

fn single_key(t: usize, p: usize, sk: usize) -> Key {
    (format!("t{t}p{p}"), format!("s{sk}"))
}

fn tx_key(t: usize, g: usize, i: usize) -> Key {
    (format!("t{t}x{g}k{i}"), "x".to_string())
}

/// A token's (thread, seq): tokens are `round:thread:seq[.i]`.
fn token_order(tok: &str) -> Option<(u64, u64)> {
    let mut parts = tok.split(':');
    let _round = parts.next()?;
    let t = parts.next()?.parse().ok()?;
    let seq = parts.next()?.split('.').next()?.parse().ok()?;
    Some((t, seq))
}

/// An item for printing: the padding replaced by its length.
fn show(state: &State) -> String {
    match state {
        None => "absent".into(),
        Some(i) => {
            let mut i = i.clone();
            if let Some(b) = str_attr(&i, "body").map(str::len) {
                i.insert("body".into(), json!(format!("<{b} bytes>")));
            }
            Value::Object(i).to_string()
        }
    }
}

fn show_all(states: &[State]) -> String {
    let v: Vec<String> = states.iter().map(show).collect();
    format!("[{}]", v.join(", "))
}

// ---------------------------------------------------------------------------------------------
// The server child process.

// ---------------------------------------------------------------------------------------------
// The model of one key write.

#[derive(Clone, Debug)]
enum Cond {
    Always,
    NotExists,
    Exists,
    TokEq(String),
    NotExistsOrTokEq(String),
}

impl Cond {
    fn holds(&self, c: Option<&Item>) -> bool {
        let tok = c.and_then(|i| str_attr(i, "tok"));
        match self {
            Cond::Always => true,
            Cond::NotExists => c.is_none(),
            Cond::Exists => c.is_some(),
            Cond::TokEq(t) => tok == Some(t.as_str()),
            Cond::NotExistsOrTokEq(t) => c.is_none() || tok == Some(t.as_str()),
        }
    }

    /// Adds ConditionExpression (and `:cur` to ExpressionAttributeValues) to `body`.
    fn add_to(&self, body: &mut Value) {
        let (expr, cur) = match self {
            Cond::Always => return,
            Cond::NotExists => ("attribute_not_exists(pk)", None),
            Cond::Exists => ("attribute_exists(pk)", None),
            Cond::TokEq(t) => ("tok = :cur", Some(t)),
            Cond::NotExistsOrTokEq(t) => ("attribute_not_exists(pk) OR tok = :cur", Some(t)),
        };
        body["ConditionExpression"] = json!(expr);
        if let Some(t) = cur {
            if body.get("ExpressionAttributeValues").is_none() {
                body["ExpressionAttributeValues"] = json!({});
            }
            body["ExpressionAttributeValues"][":cur"] = s(t);
        }
    }
}

#[derive(Clone, Debug)]
enum Effect {
    Put(Item),
    Delete,
    /// SET each pair, REMOVE each name, ADD `n` to `n`.
    Update {
        set: Vec<(String, Value)>,
        remove: Vec<String>,
        add: i64,
    },
}

impl Effect {
    fn update_expression(&self) -> (String, Value) {
        let Effect::Update { set, remove, add } = self else {
            return (String::new(), json!({}));
        };
        let mut values = Map::new();
        let sets: Vec<String> = set
            .iter()
            .map(|(name, v)| {
                values.insert(format!(":{name}"), v.clone());
                format!("{name} = :{name}")
            })
            .collect();
        let mut expr = format!("SET {}", sets.join(", "));
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        expr.push_str(" ADD n :d");
        values.insert(":d".into(), json!({"N": add.to_string()}));
        (expr, Value::Object(values))
    }

    /// Attribute names UPDATED_NEW reports.
    fn updated_names(&self) -> Vec<String> {
        match self {
            Effect::Update { set, .. } => set
                .iter()
                .map(|(n, _)| n.clone())
                .chain(["n".to_string()])
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
struct KeyWrite {
    key: Key,
    cond: Cond,
    effect: Effect,
}

impl KeyWrite {
    /// The state after this write from `c`, or `None` when its condition fails.
    fn apply(&self, c: Option<&Item>) -> Option<State> {
        if !self.cond.holds(c) {
            return None;
        }
        Some(match &self.effect {
            Effect::Put(item) => Some(item.clone()),
            Effect::Delete => None,
            Effect::Update { set, remove, add } => {
                let mut item = c.cloned().unwrap_or_else(|| {
                    let mut i = Map::new();
                    i.insert("pk".into(), s(&self.key.0));
                    i.insert("sk".into(), s(&self.key.1));
                    i
                });
                for (name, v) in set {
                    item.insert(name.clone(), v.clone());
                }
                for name in remove {
                    item.remove(name);
                }
                let old = item
                    .get("n")
                    .and_then(|v| v["N"].as_str())
                    .and_then(|n| n.parse::<i64>().ok())
                    .unwrap_or(0);
                item.insert("n".into(), json!({"N": (old + add).to_string()}));
                Some(item)
            }
        })
    }
}

/// What an answer showed of the item.
#[derive(Clone, Debug)]
enum Seen {
    Nothing,
    Old(State),
    New(State),
    /// UPDATED_NEW: the updated attributes of the new item.
    UpdatedNew(Item, Vec<String>),
}

impl Seen {
    fn fits(&self, old: Option<&Item>, new: &State) -> bool {
        match self {
            Seen::Nothing => true,
            Seen::Old(o) => o.as_ref() == old,
            Seen::New(n) => n == new,
            Seen::UpdatedNew(got, names) => {
                let mut want = Map::new();
                if let Some(n) = new {
                    for name in names {
                        if let Some(v) = n.get(name) {
                            want.insert(name.clone(), v.clone());
                        }
                    }
                }
                &want == got
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Outcome {
    Acked(Seen),
    /// Refused by its condition; the item returned with it (ALL_OLD) when asked for.
    CondFailed(Option<State>),
    /// Refused without effect (conflict, throttling, ...).
    NoEffect,
    /// No answer: may or may not have happened.
    Unknown,
    /// A consistent read saw this.
    Read(State),
}

// ---------------------------------------------------------------------------------------------
// Client threads.

/// One thread's keys and what each can hold.
struct ThreadState {
    t: usize,
    seq: u64,
    keys: BTreeMap<Key, Vec<State>>,
}

impl ThreadState {
    fn new(t: usize) -> ThreadState {
        let mut keys = BTreeMap::new();
        for p in 0..PKS {
            for sk in 0..SKS {
                keys.insert(single_key(t, p, sk), vec![None]);
            }
        }
        for g in 0..GROUPS {
            for i in 0..GROUP_KEYS {
                keys.insert(tx_key(t, g, i), vec![None]);
            }
        }
        ThreadState { t, seq: 0, keys }
    }
}

/// One operation as issued (intent) and answered (outcome).
struct OpRecord {
    seq: u64,
    what: String,
    keys: Vec<Key>,
    outcome: String,
}

/// An unanswered write, resolved after the restart.
struct InFlight {
    token: Option<String>,
    keys: Vec<Key>,
    tx: bool,
}

#[derive(Default)]
struct RoundLog {
    records: Vec<OpRecord>,
    acked: usize,
    reads: usize,
    cond_refused: usize,
    refused: BTreeMap<String, usize>,
    unknown: Vec<InFlight>,
    server_errors: Vec<String>,
    /// Transport failures while the server was still running.
    early_unknown: Vec<String>,
    violations: Vec<String>,
}

enum Answer {
    Ok(Value),
    Refused(String, Value),
    Unknown,
}

struct Worker<'a> {
    round: usize,
    addr: SocketAddr,
    conn: Option<Conn>,
    rng: SmallRng,
    st: ThreadState,
    log: RoundLog,
    acked_total: &'a AtomicUsize,
    /// Set just before the SIGKILL.
    killing: &'a AtomicBool,
}

impl Worker<'_> {
    /// Sends one request; `None` when no connection could be made (nothing was sent).
    fn call(&mut self, op: &str, body: &Value) -> Option<Answer> {
        if self.conn.is_none() {
            match Conn::try_new(self.addr) {
                Ok(c) => self.conn = Some(c),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(2));
                    return None;
                }
            }
        }
        let conn = self.conn.as_mut()?;
        let r: Result<Reply, String> = conn.call(op, body);
        Some(match r {
            Err(e) => {
                self.conn = None;
                if !self.killing.load(Ordering::Relaxed) {
                    self.log.early_unknown.push(format!("{op}: {e}"));
                }
                Answer::Unknown
            }
            Ok(r) if r.status == 200 => Answer::Ok(r.json().unwrap_or(Value::Null)),
            Ok(r) if r.status == 400 => {
                Answer::Refused(r.error_name(), r.json().unwrap_or_default())
            }
            Ok(r) => {
                let e = format!("{op}: {} {}", r.status, String::from_utf8_lossy(&r.body));
                self.log.server_errors.push(e);
                Answer::Unknown
            }
        })
    }

    fn token(&mut self) -> (u64, String) {
        self.st.seq += 1;
        let seq = self.st.seq;
        (seq, format!("{}:{}:{seq}", self.round, self.st.t))
    }

    fn random_single_key(&mut self) -> Key {
        single_key(
            self.st.t,
            self.rng.gen_range(0..PKS),
            self.rng.gen_range(0..SKS),
        )
    }

    /// A token the key may hold (a candidate's), or a stale one.
    fn guess_tok(&mut self, key: &Key) -> String {
        let cands = &self.st.keys[key];
        let c = &cands[self.rng.gen_range(0..cands.len())];
        match c.as_ref().and_then(|i| str_attr(i, "tok")) {
            Some(t) if self.rng.gen_bool(0.85) => t.to_string(),
            _ => "stale".into(),
        }
    }

    fn body_attr(&mut self, tok: &str) -> Value {
        let len = self.rng.gen_range(1..2500usize);
        let mut b = format!("{tok}|");
        while b.len() < len {
            b.push(char::from(b'a' + (b.len() % 26) as u8));
        }
        s(&b)
    }

    fn new_item(&mut self, key: &Key, tok: &str) -> Item {
        let mut i = Map::new();
        i.insert("pk".into(), s(&key.0));
        i.insert("sk".into(), s(&key.1));
        i.insert("tok".into(), s(tok));
        i.insert("body".into(), self.body_attr(tok));
        if self.rng.gen_bool(0.8) {
            let g = format!("g{}", self.rng.gen_range(0..G_VALUES));
            i.insert("g".into(), s(&g));
        }
        if self.rng.gen_bool(0.7) {
            let l = format!("l{:02}", self.rng.gen_range(0..L_VALUES));
            i.insert("l".into(), s(&l));
        }
        if self.rng.gen_bool(0.5) {
            i.insert(
                "n".into(),
                json!({"N": self.rng.gen_range(0..1000).to_string()}),
            );
        }
        i
    }

    fn new_update(&mut self, tok: &str, index_keys: bool) -> Effect {
        let mut set = vec![
            ("tok".to_string(), s(tok)),
            ("body".into(), self.body_attr(tok)),
        ];
        let mut remove = Vec::new();
        if index_keys {
            match self.rng.gen_range(0..10) {
                0..=5 => set.push((
                    "g".into(),
                    s(&format!("g{}", self.rng.gen_range(0..G_VALUES))),
                )),
                6 => remove.push("g".to_string()),
                _ => {}
            }
            match self.rng.gen_range(0..10) {
                0..=4 => set.push((
                    "l".into(),
                    s(&format!("l{:02}", self.rng.gen_range(0..L_VALUES))),
                )),
                5 => remove.push("l".to_string()),
                _ => {}
            }
        }
        Effect::Update {
            set,
            remove,
            add: self.rng.gen_range(1..6),
        }
    }

    /// Applies an outcome to a key's candidates; an impossible outcome is a violation.
    fn settle(&mut self, seq: u64, what: &str, w: &KeyWrite, outcome: &Outcome) {
        let Some(cands) = self.st.keys.get(&w.key) else {
            self.log
                .violations
                .push(format!("internal: key {:?} has no oracle", w.key));
            return;
        };
        let mut next: Vec<State> = Vec::new();
        let mut push = |s: State| {
            if !next.contains(&s) {
                next.push(s);
            }
        };
        match outcome {
            Outcome::Acked(seen) => {
                for c in cands {
                    if let Some(n) = w.apply(c.as_ref()) {
                        if seen.fits(c.as_ref(), &n) {
                            push(n);
                        }
                    }
                }
            }
            Outcome::CondFailed(old) => {
                for c in cands {
                    if w.apply(c.as_ref()).is_none() && old.as_ref().is_none_or(|o| o == c) {
                        push(c.clone());
                    }
                }
            }
            Outcome::NoEffect => cands.iter().cloned().for_each(&mut push),
            Outcome::Unknown => {
                for c in cands {
                    push(c.clone());
                    if let Some(n) = w.apply(c.as_ref()) {
                        push(n);
                    }
                }
            }
            Outcome::Read(o) => {
                if cands.contains(o) {
                    push(o.clone());
                }
            }
        }
        if next.is_empty() {
            self.log.violations.push(format!(
                "round {} thread {} op {seq} {what} on {:?} ({:?}): outcome {} impossible from \
                 the states the key can be in: {}",
                self.round,
                self.st.t,
                w.key,
                w.cond,
                outcome_text(outcome),
                show_all(cands)
            ));
            // Go on from what the server showed, or from everything possible.
            next = match outcome {
                Outcome::Acked(Seen::New(n)) | Outcome::Read(n) => vec![n.clone()],
                _ => {
                    let mut all = cands.clone();
                    for c in cands {
                        if let Some(n) = w.apply(c.as_ref()) {
                            if !all.contains(&n) {
                                all.push(n);
                            }
                        }
                    }
                    all
                }
            };
        }
        self.st.keys.insert(w.key.clone(), next);
    }

    fn record(&mut self, seq: u64, what: String, keys: Vec<Key>, outcome: String) {
        self.log.records.push(OpRecord {
            seq,
            what,
            keys,
            outcome,
        });
    }

    fn count(&mut self, outcome: &Outcome, writes: usize) {
        match outcome {
            Outcome::Acked(_) => {
                self.log.acked += writes;
                self.acked_total.fetch_add(writes, Ordering::Relaxed);
            }
            Outcome::CondFailed(_) => self.log.cond_refused += 1,
            Outcome::Read(_) => self.log.reads += 1,
            Outcome::NoEffect | Outcome::Unknown => {}
        }
    }

    /// Classifies a single-key write's answer; `asked_old`: ReturnValuesOnConditionCheckFailure
    /// was ALL_OLD, so a refusal shows the item.
    fn single_outcome(
        &mut self,
        a: Answer,
        asked_old: bool,
        seen: impl FnOnce(&Value) -> Seen,
    ) -> Outcome {
        match a {
            Answer::Ok(v) => Outcome::Acked(seen(&v)),
            Answer::Refused(name, body) if name == "ConditionalCheckFailedException" => {
                Outcome::CondFailed(
                    asked_old.then(|| body.get("Item").and_then(|i| i.as_object().cloned())),
                )
            }
            Answer::Refused(name, _) => {
                *self.log.refused.entry(name).or_default() += 1;
                Outcome::NoEffect
            }
            Answer::Unknown => Outcome::Unknown,
        }
    }
}

/// The item in a response's `Attributes` (absent when missing or empty).
fn attrs(v: &Value) -> State {
    v.get("Attributes")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
        .cloned()
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Acked(Seen::Nothing) => "acknowledged".into(),
        Outcome::Acked(Seen::Old(s)) => format!("acknowledged, old {}", show(s)),
        Outcome::Acked(Seen::New(s)) => format!("acknowledged, new {}", show(s)),
        Outcome::Acked(Seen::UpdatedNew(i, _)) => {
            format!("acknowledged, updated {}", show(&Some(i.clone())))
        }
        Outcome::CondFailed(None) => "refused by condition".into(),
        Outcome::CondFailed(Some(s)) => format!("refused by condition, item {}", show(s)),
        Outcome::NoEffect => "refused without effect".into(),
        Outcome::Unknown => "unanswered".into(),
        Outcome::Read(s) => format!("read {}", show(s)),
    }
}

impl Worker<'_> {
    fn step(&mut self) {
        match self.rng.gen_range(0..100) {
            0..=17 => self.put(),
            18..=39 => self.update(),
            40..=49 => self.delete(),
            50..=54 => self.get(),
            55..=69 => self.batch(),
            _ => self.transact(),
        }
    }

    fn finish(&mut self, seq: u64, what: &str, writes: &[KeyWrite], outcomes: &[Outcome]) {
        for (w, o) in writes.iter().zip(outcomes) {
            self.settle(seq, what, w, o);
            self.count(o, 1);
        }
        let text: Vec<String> = outcomes.iter().map(outcome_text).collect();
        self.record(
            seq,
            what.to_string(),
            writes.iter().map(|w| w.key.clone()).collect(),
            text.join("; "),
        );
    }

    fn unanswered(&mut self, token: Option<String>, writes: &[KeyWrite], tx: bool) {
        self.log.unknown.push(InFlight {
            token,
            keys: writes.iter().map(|w| w.key.clone()).collect(),
            tx,
        });
    }

    fn put(&mut self) {
        let key = self.random_single_key();
        let (seq, tok) = self.token();
        let item = self.new_item(&key, &tok);
        let cond = match self.rng.gen_range(0..10) {
            0..=5 => Cond::Always,
            6..=7 => Cond::NotExists,
            _ => Cond::TokEq(self.guess_tok(&key)),
        };
        let asked_old = self.rng.gen_bool(0.5);
        let mut body = json!({"TableName": TABLE, "Item": item, "ReturnValues": "ALL_OLD"});
        if asked_old {
            body["ReturnValuesOnConditionCheckFailure"] = json!("ALL_OLD");
        }
        cond.add_to(&mut body);
        let Some(a) = self.call("PutItem", &body) else {
            return;
        };
        let outcome = self.single_outcome(a, asked_old, |v| Seen::Old(attrs(v)));
        let w = KeyWrite {
            key,
            cond,
            effect: Effect::Put(item),
        };
        if matches!(outcome, Outcome::Unknown) {
            self.unanswered(Some(tok), std::slice::from_ref(&w), false);
        }
        self.finish(seq, "PutItem", &[w], &[outcome]);
    }

    fn update(&mut self) {
        let key = self.random_single_key();
        let (seq, tok) = self.token();
        let effect = self.new_update(&tok, true);
        let cond = match self.rng.gen_range(0..20) {
            0..=13 => Cond::Always,
            14..=16 => Cond::Exists,
            _ => Cond::TokEq(self.guess_tok(&key)),
        };
        let rv = ["NONE", "ALL_OLD", "ALL_NEW", "UPDATED_NEW"][self.rng.gen_range(0..4)];
        let asked_old = self.rng.gen_bool(0.5);
        let (expr, values) = effect.update_expression();
        let mut body = json!({"TableName": TABLE, "Key": key_json(&key), "UpdateExpression": expr,
                              "ExpressionAttributeValues": values, "ReturnValues": rv});
        if asked_old {
            body["ReturnValuesOnConditionCheckFailure"] = json!("ALL_OLD");
        }
        cond.add_to(&mut body);
        let Some(a) = self.call("UpdateItem", &body) else {
            return;
        };
        let names = effect.updated_names();
        let outcome = self.single_outcome(a, asked_old, |v| match rv {
            "ALL_OLD" => Seen::Old(attrs(v)),
            "ALL_NEW" => Seen::New(attrs(v)),
            "UPDATED_NEW" => Seen::UpdatedNew(attrs(v).unwrap_or_default(), names),
            _ => Seen::Nothing,
        });
        let w = KeyWrite { key, cond, effect };
        if matches!(outcome, Outcome::Unknown) {
            self.unanswered(Some(tok), std::slice::from_ref(&w), false);
        }
        self.finish(seq, &format!("UpdateItem {rv}"), &[w], &[outcome]);
    }

    fn delete(&mut self) {
        let key = self.random_single_key();
        let (seq, _) = self.token();
        let cond = match self.rng.gen_range(0..10) {
            0..=5 => Cond::Always,
            6..=7 => Cond::Exists,
            _ => Cond::TokEq(self.guess_tok(&key)),
        };
        let return_old = self.rng.gen_bool(0.5);
        let asked_old = self.rng.gen_bool(0.5);
        let mut body = json!({"TableName": TABLE, "Key": key_json(&key),
                              "ReturnValues": if return_old { "ALL_OLD" } else { "NONE" }});
        if asked_old {
            body["ReturnValuesOnConditionCheckFailure"] = json!("ALL_OLD");
        }
        cond.add_to(&mut body);
        let Some(a) = self.call("DeleteItem", &body) else {
            return;
        };
        let outcome = self.single_outcome(a, asked_old, |v| {
            if return_old {
                Seen::Old(attrs(v))
            } else {
                Seen::Nothing
            }
        });
        let w = KeyWrite {
            key,
            cond,
            effect: Effect::Delete,
        };
        if matches!(outcome, Outcome::Unknown) {
            self.unanswered(None, std::slice::from_ref(&w), false);
        }
        self.finish(seq, "DeleteItem", &[w], &[outcome]);
    }

    fn get(&mut self) {
        let key = self.random_single_key();
        let seq = self.st.seq;
        let body = json!({"TableName": TABLE, "Key": key_json(&key), "ConsistentRead": true});
        match self.call("GetItem", &body) {
            Some(Answer::Ok(v)) => {
                let seen = v.get("Item").and_then(Value::as_object).cloned();
                let w = KeyWrite {
                    key,
                    cond: Cond::Always,
                    effect: Effect::Delete,
                };
                self.finish(seq, "GetItem", &[w], &[Outcome::Read(seen)]);
            }
            Some(Answer::Refused(name, _)) => *self.log.refused.entry(name).or_default() += 1,
            Some(Answer::Unknown) | None => {}
        }
    }

    fn batch(&mut self) {
        let n = self.rng.gen_range(2..=4);
        let mut keys: Vec<Key> = Vec::new();
        while keys.len() < n {
            let k = self.random_single_key();
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        let (seq, tok) = self.token();
        let mut writes = Vec::new();
        for (i, key) in keys.into_iter().enumerate() {
            let effect = if self.rng.gen_bool(0.7) {
                Effect::Put(self.new_item(&key, &format!("{tok}.{i}")))
            } else {
                Effect::Delete
            };
            writes.push(KeyWrite {
                key,
                cond: Cond::Always,
                effect,
            });
        }
        let requests: Vec<Value> = writes
            .iter()
            .map(|w| match &w.effect {
                Effect::Put(i) => json!({"PutRequest": {"Item": i}}),
                _ => json!({"DeleteRequest": {"Key": key_json(&w.key)}}),
            })
            .collect();
        let body = json!({ "RequestItems": { TABLE: requests } });
        let Some(a) = self.call("BatchWriteItem", &body) else {
            return;
        };
        let outcomes: Vec<Outcome> = match a {
            Answer::Ok(v) => {
                let unprocessed: Vec<Key> = v["UnprocessedItems"][TABLE]
                    .as_array()
                    .map(|reqs| {
                        reqs.iter()
                            .filter_map(|r| {
                                r["PutRequest"]["Item"]
                                    .as_object()
                                    .or(r["DeleteRequest"]["Key"].as_object())
                                    .and_then(key_of)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if !unprocessed.is_empty() {
                    *self
                        .log
                        .refused
                        .entry("UnprocessedItems".into())
                        .or_default() += unprocessed.len();
                }
                writes
                    .iter()
                    .map(|w| {
                        if unprocessed.contains(&w.key) {
                            Outcome::NoEffect
                        } else {
                            Outcome::Acked(Seen::Nothing)
                        }
                    })
                    .collect()
            }
            Answer::Refused(name, _) => {
                *self.log.refused.entry(name).or_default() += 1;
                vec![Outcome::NoEffect; n]
            }
            Answer::Unknown => {
                self.unanswered(Some(tok), &writes, false);
                vec![Outcome::Unknown; n]
            }
        };
        self.finish(seq, "BatchWriteItem", &writes, &outcomes);
    }

    fn transact(&mut self) {
        let g = self.rng.gen_range(0..GROUPS);
        let n = self.rng.gen_range(2..=GROUP_KEYS);
        let mut idx: Vec<usize> = (0..GROUP_KEYS).collect();
        rand::seq::SliceRandom::shuffle(idx.as_mut_slice(), &mut self.rng);
        let (seq, tok) = self.token();
        let mut writes = Vec::new();
        for (j, i) in idx.into_iter().take(n).enumerate() {
            let key = tx_key(self.st.t, g, i);
            let cond = if j == 0 && self.rng.gen_bool(0.3) {
                Cond::NotExistsOrTokEq(self.guess_tok(&key))
            } else {
                Cond::Always
            };
            let effect = if self.rng.gen_bool(0.5) {
                Effect::Put(self.new_item(&key, &tok))
            } else {
                self.new_update(&tok, true)
            };
            writes.push(KeyWrite { key, cond, effect });
        }
        let items: Vec<Value> = writes
            .iter()
            .map(|w| {
                let (kind, mut inner) = match &w.effect {
                    Effect::Put(i) => ("Put", json!({"TableName": TABLE, "Item": i})),
                    e => {
                        let (expr, values) = e.update_expression();
                        (
                            "Update",
                            json!({"TableName": TABLE, "Key": key_json(&w.key),
                                   "UpdateExpression": expr, "ExpressionAttributeValues": values}),
                        )
                    }
                };
                if !matches!(w.cond, Cond::Always) {
                    w.cond.add_to(&mut inner);
                    inner["ReturnValuesOnConditionCheckFailure"] = json!("ALL_OLD");
                }
                json!({ kind: inner })
            })
            .collect();
        let Some(a) = self.call("TransactWriteItems", &json!({ "TransactItems": items })) else {
            return;
        };
        let outcomes: Vec<Outcome> = match a {
            Answer::Ok(_) => vec![Outcome::Acked(Seen::Nothing); n],
            Answer::Refused(name, body) if name == "TransactionCanceledException" => {
                let reasons = body["CancellationReasons"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let codes: Vec<&str> = reasons
                    .iter()
                    .map(|r| r["Code"].as_str().unwrap_or("?"))
                    .collect();
                let by_condition = codes.len() == n
                    && codes.contains(&"ConditionalCheckFailed")
                    && codes
                        .iter()
                        .all(|c| *c == "None" || *c == "ConditionalCheckFailed");
                if by_condition {
                    reasons
                        .iter()
                        .map(|r| {
                            if r["Code"] == "ConditionalCheckFailed" {
                                Outcome::CondFailed(Some(
                                    r.get("Item").and_then(Value::as_object).cloned(),
                                ))
                            } else {
                                Outcome::NoEffect
                            }
                        })
                        .collect()
                } else {
                    let what = format!("TransactionCanceledException [{}]", codes.join(", "));
                    *self.log.refused.entry(what).or_default() += 1;
                    vec![Outcome::NoEffect; n]
                }
            }
            Answer::Refused(name, _) => {
                *self.log.refused.entry(name).or_default() += 1;
                vec![Outcome::NoEffect; n]
            }
            Answer::Unknown => {
                self.unanswered(Some(tok.clone()), &writes, true);
                vec![Outcome::Unknown; n]
            }
        };
        self.finish(
            seq,
            &format!("TransactWriteItems {tok}"),
            &writes,
            &outcomes,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Verification after a restart.

fn call_ok(conn: &mut Conn, op: &str, body: &Value) -> Result<Value, String> {
    let r = conn.call(op, body)?;
    if r.status != 200 {
        return Err(format!(
            "{op}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    r.json()
        .ok_or_else(|| format!("{op}: the body is not JSON"))
}

fn call_streams(conn: &mut Conn, op: &str, body: &Value) -> Result<Value, String> {
    let target = format!("DynamoDBStreams_20120810.{op}");
    let r = conn.post(
        &[
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", &target),
        ],
        body.to_string().as_bytes(),
    )?;
    if r.status != 200 {
        return Err(format!(
            "{op}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    r.json()
        .ok_or_else(|| format!("{op}: the body is not JSON"))
}

/// Every page of a Scan or Query.
fn read_all(conn: &mut Conn, op: &str, mut body: Value) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let page = call_ok(conn, op, &body)?;
        for i in page["Items"].as_array().into_iter().flatten() {
            out.push(i.as_object().cloned().ok_or("an item is not an object")?);
        }
        match page.get("LastEvaluatedKey") {
            Some(k) => body["ExclusiveStartKey"] = k.clone(),
            None => return Ok(out),
        }
    }
    Err(format!("{op} paging did not end"))
}

fn create_table(conn: &mut Conn) -> Result<(), String> {
    let attr = |n: &str| json!({"AttributeName": n, "AttributeType": "S"});
    let key = |n: &str, t: &str| json!({"AttributeName": n, "KeyType": t});
    call_ok(
        conn,
        "CreateTable",
        &json!({
            "TableName": TABLE,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [attr("pk"), attr("sk"), attr("g"), attr("tok"), attr("l")],
            "KeySchema": [key("pk", "HASH"), key("sk", "RANGE")],
            "GlobalSecondaryIndexes": [{"IndexName": GSI,
                "KeySchema": [key("g", "HASH"), key("tok", "RANGE")],
                "Projection": {"ProjectionType": "ALL"}}],
            "LocalSecondaryIndexes": [{"IndexName": LSI,
                "KeySchema": [key("pk", "HASH"), key("l", "RANGE")],
                "Projection": {"ProjectionType": "KEYS_ONLY"}}],
            "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        }),
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let d = call_ok(conn, "DescribeTable", &json!({ "TableName": TABLE }))?;
        let t = &d["Table"];
        if t["TableStatus"] == "ACTIVE" && t["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("the table did not become ACTIVE in 30 s".into())
}

/// Campaign totals.
#[derive(Default)]
struct Figures {
    ops: usize,
    acked: usize,
    reads: usize,
    cond_refused: usize,
    refused: BTreeMap<String, usize>,
    server_errors: usize,
    early_unknown: usize,
    in_flight: usize,
    in_flight_applied: usize,
    in_flight_tx: usize,
    keys_checked: usize,
    gsi_queries: usize,
    gsi_scans: usize,
    lsi_queries: usize,
    index_items: usize,
    stream_records: usize,
    stream_keys: usize,
    restart_max: Duration,
}

impl Figures {
    fn index_checks(&self) -> usize {
        self.gsi_queries + self.gsi_scans + self.lsi_queries
    }
}

/// `got` (an index read) equals `want` (recomputed from the table), as sets of items.
fn compare_index(bad: &mut Vec<String>, what: &str, got: &[Item], want: &[Item]) {
    let by_key = |items: &[Item]| -> BTreeMap<Option<Key>, Vec<Item>> {
        let mut m: BTreeMap<Option<Key>, Vec<Item>> = BTreeMap::new();
        for i in items {
            m.entry(key_of(i)).or_default().push(i.clone());
        }
        m
    };
    let (g, w) = (by_key(got), by_key(want));
    if g == w {
        return;
    }
    let mut diffs = Vec::new();
    for k in g.keys().chain(w.keys()).collect::<BTreeSet<_>>() {
        let (a, b) = (g.get(k), w.get(k));
        if a != b {
            let list = |v: Option<&Vec<Item>>| {
                v.map(|v| v.iter().map(|i| show(&Some(i.clone()))).collect::<Vec<_>>())
                    .unwrap_or_default()
                    .join(" ")
            };
            diffs.push(format!(
                "  {k:?}: index has [{}], table says [{}]",
                list(a),
                list(b)
            ));
        }
    }
    bad.push(format!(
        "{what}: {} index items, {} expected from the table scan; differences:\n{}",
        got.len(),
        want.len(),
        diffs.into_iter().take(10).collect::<Vec<_>>().join("\n")
    ));
}

/// Whether `items` are in ascending order of string attribute `attr`.
fn ordered_by(items: &[Item], attr: &str) -> bool {
    items
        .windows(2)
        .all(|w| str_attr(&w[0], attr) <= str_attr(&w[1], attr))
}

/// The stream read incrementally across rounds: per-shard checkpoints and each key's last image.
#[derive(Default)]
struct StreamCheck {
    arn: Option<String>,
    drained: BTreeSet<String>,
    checkpoint: HashMap<String, String>,
    last: HashMap<Key, State>,
}

impl StreamCheck {
    /// Reads every record after the checkpoints (parent shards first); returns how many.
    fn catch_up(&mut self, conn: &mut Conn, arn: &str) -> Result<usize, String> {
        let mut shards: Vec<(String, Option<String>)> = Vec::new();
        let mut req = json!({ "StreamArn": arn });
        for _ in 0..10_000 {
            let d = call_streams(conn, "DescribeStream", &req)?;
            let desc = &d["StreamDescription"];
            for sh in desc["Shards"].as_array().into_iter().flatten() {
                let id = sh["ShardId"].as_str().ok_or("a shard without ShardId")?;
                let parent = sh["ParentShardId"].as_str().map(str::to_string);
                shards.push((id.to_string(), parent));
            }
            match desc["LastEvaluatedShardId"].as_str() {
                Some(last) => req["ExclusiveStartShardId"] = json!(last),
                None => break,
            }
        }
        let ids: BTreeSet<&String> = shards.iter().map(|(id, _)| id).collect();
        let mut order: Vec<String> = Vec::new();
        while order.len() < shards.len() {
            let before = order.len();
            for (id, parent) in &shards {
                let ready = parent
                    .as_ref()
                    .is_none_or(|p| !ids.contains(p) || order.contains(p));
                if ready && !order.contains(id) {
                    order.push(id.clone());
                }
            }
            if order.len() == before {
                return Err(format!("shard lineage has a cycle: {shards:?}"));
            }
        }
        let mut fresh: Vec<(u128, Key, State)> = Vec::new();
        for id in order {
            if self.drained.contains(&id) {
                continue;
            }
            let it_req = match self.checkpoint.get(&id) {
                Some(seq) => json!({"StreamArn": arn, "ShardId": id,
                    "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": seq}),
                None => {
                    json!({"StreamArn": arn, "ShardId": id, "ShardIteratorType": "TRIM_HORIZON"})
                }
            };
            let it = call_streams(conn, "GetShardIterator", &it_req)?;
            let mut it = it["ShardIterator"]
                .as_str()
                .ok_or("no ShardIterator")?
                .to_string();
            for _ in 0..1_000_000 {
                let page = call_streams(
                    conn,
                    "GetRecords",
                    &json!({"ShardIterator": it, "Limit": 1000}),
                )?;
                let records = page["Records"].as_array().cloned().unwrap_or_default();
                for r in &records {
                    let d = &r["dynamodb"];
                    let seq = d["SequenceNumber"].as_str().ok_or("no SequenceNumber")?;
                    let n: u128 = seq
                        .parse()
                        .map_err(|_| format!("SequenceNumber {seq:?} is not a number"))?;
                    let key = d["Keys"]
                        .as_object()
                        .and_then(key_of)
                        .ok_or_else(|| format!("a record without keys: {r}"))?;
                    let state = if r["eventName"] == "REMOVE" {
                        None
                    } else {
                        Some(
                            d["NewImage"]
                                .as_object()
                                .cloned()
                                .ok_or_else(|| format!("no NewImage in {r}"))?,
                        )
                    };
                    fresh.push((n, key, state));
                    self.checkpoint.insert(id.clone(), seq.to_string());
                }
                match page["NextShardIterator"].as_str() {
                    None => {
                        self.drained.insert(id.clone());
                        break;
                    }
                    Some(_) if records.is_empty() => break,
                    Some(next) => it = next.to_string(),
                }
            }
        }
        // One sequence counter per stream: its order is commit order per item.
        fresh.sort_by_key(|r| r.0);
        let n = fresh.len();
        for (_, k, s) in fresh {
            self.last.insert(k, s);
        }
        Ok(n)
    }
}

/// Checks the restarted server against the oracle; returns the violations found. An `Err` is a
/// verification request that failed.
fn verify(
    conn: &mut Conn,
    round: usize,
    states: &mut [ThreadState],
    logs: &[RoundLog],
    stream: &mut StreamCheck,
    figs: &mut Figures,
) -> Result<Vec<String>, String> {
    let mut bad = Vec::new();
    // The table, its indexes and its stream survived.
    let d = call_ok(conn, "DescribeTable", &json!({ "TableName": TABLE }))?;
    let t = &d["Table"];
    let gsi_ok = t["GlobalSecondaryIndexes"].as_array().is_some_and(|a| {
        a.len() == 1 && a[0]["IndexName"] == GSI && a[0]["IndexStatus"] == "ACTIVE"
    });
    let lsi_ok = t["LocalSecondaryIndexes"]
        .as_array()
        .is_some_and(|a| a.len() == 1 && a[0]["IndexName"] == LSI);
    if t["TableStatus"] != "ACTIVE" || !gsi_ok || !lsi_ok {
        bad.push(format!("round {round}: the table after restart: {t}"));
    }
    let arn = t["LatestStreamArn"].as_str().map(str::to_string);
    if t["StreamSpecification"]["StreamEnabled"] != true || arn.is_none() {
        bad.push(format!("round {round}: the stream after restart: {t}"));
    }
    if stream.arn.is_some() && stream.arn != arn {
        bad.push(format!(
            "round {round}: the stream ARN changed from {:?} to {arn:?}",
            stream.arn
        ));
    }
    stream.arn = arn.clone();

    // Every key holds one of the states it can be in.
    let items = read_all(
        conn,
        "Scan",
        json!({"TableName": TABLE, "ConsistentRead": true}),
    )?;
    let mut table: HashMap<Key, Item> = HashMap::new();
    for i in &items {
        match key_of(i) {
            Some(k) => {
                if table.insert(k.clone(), i.clone()).is_some() {
                    bad.push(format!("round {round}: the Scan returned {k:?} twice"));
                }
            }
            None => bad.push(format!("round {round}: an item without its key: {i:?}")),
        }
    }
    let mut observed: HashMap<Key, State> = HashMap::new();
    for (st, log) in states.iter_mut().zip(logs) {
        for (key, cands) in st.keys.iter_mut() {
            let got = table.remove(key);
            figs.keys_checked += 1;
            if !cands.contains(&got) {
                let kind = if got.is_none() {
                    "an acknowledged write is lost"
                } else if cands.iter().all(Option::is_none) {
                    "a deleted item is back"
                } else {
                    "a value nobody left there"
                };
                let history: Vec<String> = log
                    .records
                    .iter()
                    .filter(|r| r.keys.contains(key))
                    .map(|r| format!("    op {} {}: {}", r.seq, r.what, r.outcome))
                    .collect();
                bad.push(format!(
                    "round {round}: {kind}: {key:?} recovered as {}, but it can only be one of \
                     {}; this round's operations on it:\n{}",
                    show(&got),
                    show_all(cands),
                    history[history.len().saturating_sub(12)..].join("\n")
                ));
            }
            *cands = vec![got.clone()];
            observed.insert(key.clone(), got);
        }
    }
    for (k, i) in table {
        bad.push(format!(
            "round {round}: an item nobody wrote: {k:?} {}",
            show(&Some(i))
        ));
    }

    // Unanswered writes are resolved; an unanswered transaction is all or nothing.
    for f in logs.iter().flat_map(|l| &l.unknown) {
        figs.in_flight += 1;
        let toks: Vec<Option<&str>> = f
            .keys
            .iter()
            .map(|k| {
                observed
                    .get(k)
                    .and_then(Option::as_ref)
                    .and_then(|i| str_attr(i, "tok"))
            })
            .collect();
        let Some(token) = &f.token else { continue };
        let batch_prefix = format!("{token}.");
        let mine = |t: &&str| *t == token || t.starts_with(&batch_prefix);
        let applied = toks.iter().flatten().any(mine);
        figs.in_flight_applied += usize::from(applied);
        if !f.tx {
            continue;
        }
        figs.in_flight_tx += 1;
        let Some(order) = token_order(token) else {
            continue;
        };
        if applied {
            for (k, t) in f.keys.iter().zip(&toks) {
                let same_or_later = t
                    .and_then(token_order)
                    .is_some_and(|o| o.0 == order.0 && o.1 >= order.1);
                if !same_or_later {
                    bad.push(format!(
                        "round {round}: transaction {token} half applied: {k:?} holds {t:?} \
                         while its keys {:?} hold {toks:?}",
                        f.keys
                    ));
                }
            }
        }
    }

    // The GSI (g, tok; ALL) per partition and whole, recomputed from the scan.
    let in_gsi: Vec<Item> = items
        .iter()
        .filter(|i| str_attr(i, "g").is_some() && str_attr(i, "tok").is_some())
        .cloned()
        .collect();
    for gv in (0..G_VALUES).map(|g| format!("g{g}")) {
        let got = read_all(
            conn,
            "Query",
            json!({"TableName": TABLE, "IndexName": GSI, "KeyConditionExpression": "g = :g",
                   "ExpressionAttributeValues": {":g": s(&gv)}}),
        )?;
        figs.gsi_queries += 1;
        figs.index_items += got.len();
        if !ordered_by(&got, "tok") {
            bad.push(format!(
                "round {round}: GSI partition {gv} is not in `tok` order"
            ));
        }
        let want: Vec<Item> = in_gsi
            .iter()
            .filter(|i| str_attr(i, "g") == Some(gv.as_str()))
            .cloned()
            .collect();
        compare_index(
            &mut bad,
            &format!("round {round}: GSI {GSI} partition {gv}"),
            &got,
            &want,
        );
    }
    let got = read_all(conn, "Scan", json!({"TableName": TABLE, "IndexName": GSI}))?;
    figs.gsi_scans += 1;
    figs.index_items += got.len();
    compare_index(
        &mut bad,
        &format!("round {round}: GSI {GSI} scan"),
        &got,
        &in_gsi,
    );

    // The LSI (pk, l; KEYS_ONLY) per item collection.
    let pks: BTreeSet<String> = states
        .iter()
        .flat_map(|s| s.keys.keys().map(|k| k.0.clone()))
        .collect();
    for pk in pks {
        let got = read_all(
            conn,
            "Query",
            json!({"TableName": TABLE, "IndexName": LSI, "ConsistentRead": true,
                   "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": s(&pk)}}),
        )?;
        figs.lsi_queries += 1;
        figs.index_items += got.len();
        if !ordered_by(&got, "l") {
            bad.push(format!(
                "round {round}: LSI collection {pk} is not in `l` order"
            ));
        }
        let want: Vec<Item> = items
            .iter()
            .filter(|i| str_attr(i, "pk") == Some(pk.as_str()) && str_attr(i, "l").is_some())
            .map(|i| {
                ["pk", "sk", "l"]
                    .iter()
                    .filter_map(|a| Some((a.to_string(), i.get(*a)?.clone())))
                    .collect()
            })
            .collect();
        compare_index(
            &mut bad,
            &format!("round {round}: LSI {LSI} collection {pk}"),
            &got,
            &want,
        );
    }

    // The stream's last image of every key is the key's item.
    if let Some(arn) = arn {
        figs.stream_records += stream.catch_up(conn, &arn)?;
        for (k, got) in &observed {
            figs.stream_keys += 1;
            let last = stream.last.get(k).cloned().flatten();
            if &last != got {
                bad.push(format!(
                    "round {round}: the stream's last image of {k:?} is {}, the table holds {}",
                    show(&last),
                    show(got)
                ));
            }
        }
    }
    Ok(bad)
}

// ---------------------------------------------------------------------------------------------
// The oracle and the checks find what they should.

#[test]
fn oracle_rejects_outcomes_no_state_explains() {
    let (acked, killing) = (AtomicUsize::new(0), AtomicBool::new(false));
    let mut w = Worker {
        round: 1,
        addr: SocketAddr::from(([127, 0, 0, 1], 1)),
        conn: None,
        rng: SmallRng::seed_from_u64(1),
        st: ThreadState::new(0),
        log: RoundLog::default(),
        acked_total: &acked,
        killing: &killing,
    };
    let key = single_key(0, 0, 0);
    let item = |tok: &str| -> Item {
        let mut i = Map::new();
        i.insert("pk".into(), s(&key.0));
        i.insert("sk".into(), s(&key.1));
        i.insert("tok".into(), s(tok));
        i
    };
    let put = |tok: &str, cond: Cond| KeyWrite {
        key: key.clone(),
        cond,
        effect: Effect::Put(item(tok)),
    };
    // Acknowledged, then an unanswered overwrite: either may be there.
    w.settle(
        1,
        "put",
        &put("a", Cond::Always),
        &Outcome::Acked(Seen::Old(None)),
    );
    w.settle(2, "put", &put("b", Cond::Always), &Outcome::Unknown);
    assert_eq!(w.st.keys[&key].len(), 2);
    // A read resolves it; a conditional put on the other token must then fail.
    w.settle(
        3,
        "get",
        &put("", Cond::Always),
        &Outcome::Read(Some(item("a"))),
    );
    assert_eq!(w.st.keys[&key], vec![Some(item("a"))]);
    w.settle(
        4,
        "put",
        &put("c", Cond::TokEq("b".into())),
        &Outcome::CondFailed(None),
    );
    assert!(w.log.violations.is_empty(), "{:?}", w.log.violations);
    // A condition that holds reported as failed, an old image nobody wrote, a lost write seen
    // by a read, a second ADD whose result lost the first: all impossible.
    w.settle(
        5,
        "put",
        &put("d", Cond::TokEq("a".into())),
        &Outcome::CondFailed(None),
    );
    w.settle(
        6,
        "put",
        &put("e", Cond::Always),
        &Outcome::Acked(Seen::Old(Some(item("zz")))),
    );
    w.settle(7, "get", &put("", Cond::Always), &Outcome::Read(None));
    let add = KeyWrite {
        key: key.clone(),
        cond: Cond::Always,
        effect: Effect::Update {
            set: vec![("tok".into(), s("f"))],
            remove: Vec::new(),
            add: 1,
        },
    };
    w.settle(8, "add", &add, &Outcome::Acked(Seen::Nothing));
    let mut stale = item("f");
    stale.insert("n".into(), json!({"N": "1"}));
    w.settle(9, "add", &add, &Outcome::Acked(Seen::New(Some(stale))));
    assert_eq!(w.log.violations.len(), 4, "{:#?}", w.log.violations);
}

#[test]
fn index_comparison_reports_missing_extra_and_stale_entries() {
    let item = |pk: &str, tok: &str| -> Item {
        let mut i = Map::new();
        i.insert("pk".into(), s(pk));
        i.insert("sk".into(), s("x"));
        i.insert("tok".into(), s(tok));
        i
    };
    let mut bad = Vec::new();
    compare_index(
        &mut bad,
        "same",
        &[item("a", "1"), item("b", "2")],
        &[item("b", "2"), item("a", "1")],
    );
    assert!(bad.is_empty());
    compare_index(
        &mut bad,
        "missing",
        &[item("a", "1")],
        &[item("a", "1"), item("b", "2")],
    );
    compare_index(
        &mut bad,
        "extra",
        &[item("a", "1"), item("a", "1")],
        &[item("a", "1")],
    );
    compare_index(&mut bad, "stale", &[item("a", "1")], &[item("a", "2")]);
    assert_eq!(bad.len(), 3, "{bad:#?}");
    assert!(!ordered_by(&[item("a", "2"), item("b", "1")], "tok"));
}

/// Against a live server: a short workload verifies clean; then items changed behind the
/// oracle's back (an acknowledged item deleted, an item put where none can be, one key of an
/// unanswered transaction given its token) are each reported.
#[test]
fn verification_reports_tampered_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let server = Server::start(&data, &log, SERVER_ARGS).unwrap_or_else(|e| panic!("start: {e}"));
    let mut conn = Conn::new(server.addr);
    create_table(&mut conn).unwrap_or_else(|e| panic!("create table: {e}"));
    let (acked, killing) = (AtomicUsize::new(0), AtomicBool::new(false));
    let mut w = Worker {
        round: 1,
        addr: server.addr,
        conn: None,
        rng: SmallRng::seed_from_u64(7),
        st: ThreadState::new(0),
        log: RoundLog::default(),
        acked_total: &acked,
        killing: &killing,
    };
    for _ in 0..300 {
        w.step();
    }
    let (mut st, mut log) = (vec![w.st], vec![w.log]);
    let mut stream = StreamCheck::default();
    let mut figs = Figures::default();
    let clean = verify(&mut conn, 1, &mut st, &log, &mut stream, &mut figs).expect("verify");
    assert!(clean.is_empty(), "{clean:#?}");
    assert!(figs.index_items > 0 && figs.stream_records > 0);

    let single = |present: bool| {
        st[0]
            .keys
            .iter()
            .find(|(k, c)| k.0.contains('p') && c[0].is_some() == present)
            .map(|(k, _)| k.clone())
            .expect("a key")
    };
    let (lost, back) = (single(true), single(false));
    call_ok(
        &mut conn,
        "DeleteItem",
        &json!({"TableName": TABLE, "Key": key_json(&lost)}),
    )
    .expect("delete");
    let mut item = Map::new();
    item.insert("pk".into(), s(&back.0));
    item.insert("sk".into(), s(&back.1));
    item.insert("tok".into(), s("1:0:1"));
    call_ok(
        &mut conn,
        "PutItem",
        &json!({"TableName": TABLE, "Item": item}),
    )
    .expect("put");
    // An unanswered transaction over two never-written keys, found on one of them.
    let (a, b) = (tx_key(0, GROUPS - 1, 0), tx_key(0, GROUPS - 1, 1));
    let token = "1:0:999999".to_string();
    let mut half = Map::new();
    half.insert("pk".into(), s(&a.0));
    half.insert("sk".into(), s(&a.1));
    half.insert("tok".into(), s(&token));
    for k in [&a, &b] {
        let c = st[0].keys.get_mut(k).expect("tx key");
        let mut applied = half.clone();
        applied.insert("pk".into(), s(&k.0));
        c.push(Some(applied));
    }
    call_ok(
        &mut conn,
        "PutItem",
        &json!({"TableName": TABLE, "Item": half}),
    )
    .expect("put");
    log[0].unknown.push(InFlight {
        token: Some(token),
        keys: vec![a, b],
        tx: true,
    });
    let found = verify(&mut conn, 2, &mut st, &log, &mut stream, &mut figs).expect("verify");
    let has = |what: &str| found.iter().any(|f| f.contains(what));
    assert!(has("an acknowledged write is lost"), "{found:#?}");
    assert!(
        has("a deleted item is back") || has("a value nobody left there"),
        "{found:#?}"
    );
    assert!(has("half applied"), "{found:#?}");
    assert_eq!(found.len(), 3, "{found:#?}");
}

// ---------------------------------------------------------------------------------------------
// The campaign.

/// Sets the flag when dropped, so client threads stop even if the round panics.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn sigkilled_server_loses_no_acknowledged_write() {
    let seed = seed_from_env("HASHLOG_SRV_CRASH_SEED");
    let rounds = env_usize("HASHLOG_SRV_CRASH_ROUNDS", 4).max(1);
    eprintln!(
        "server crash campaign: HASHLOG_SRV_CRASH_SEED={seed} HASHLOG_SRV_CRASH_ROUNDS={rounds}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let campaign = Instant::now();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut server =
        Server::start(&data, &log, SERVER_ARGS).unwrap_or_else(|e| panic!("start: {e}"));
    create_table(&mut Conn::new(server.addr)).unwrap_or_else(|e| panic!("create table: {e}"));
    let mut states: Vec<ThreadState> = (0..THREADS).map(ThreadState::new).collect();
    let mut stream = StreamCheck::default();
    let mut figs = Figures::default();
    let mut violations: Vec<String> = Vec::new();
    for round in 1..=rounds {
        let run_for = Duration::from_millis(rng.gen_range(300..=1500));
        let acked = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let killing = AtomicBool::new(false);
        let addr = server.addr;
        let results: Vec<(ThreadState, RoundLog)> = std::thread::scope(|scope| {
            let _stop = StopOnDrop(&stop);
            let handles: Vec<_> = states
                .drain(..)
                .map(|st| {
                    let thread_seed = seed
                        ^ ((round as u64) << 40)
                        ^ (st.t as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    let (acked, stop, killing) = (&acked, &stop, &killing);
                    scope.spawn(move || {
                        let mut w = Worker {
                            round,
                            addr,
                            conn: None,
                            rng: SmallRng::seed_from_u64(thread_seed),
                            st,
                            log: RoundLog::default(),
                            acked_total: acked,
                            killing,
                        };
                        let limit = Instant::now() + Duration::from_secs(120);
                        while !stop.load(Ordering::Relaxed) && Instant::now() < limit {
                            w.step();
                        }
                        (w.st, w.log)
                    })
                })
                .collect();
            let t0 = Instant::now();
            std::thread::sleep(run_for);
            // Kill while they write: once something was acknowledged (bounded wait).
            while acked.load(Ordering::Relaxed) == 0 && t0.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(5));
            }
            killing.store(true, Ordering::Relaxed);
            server.kill();
            stop.store(true, Ordering::Relaxed);
            handles
                .into_iter()
                .map(|h| h.join().expect("client thread panicked"))
                .collect()
        });
        let (sts, logs): (Vec<ThreadState>, Vec<RoundLog>) = results.into_iter().unzip();
        states = sts;
        let restarting = Instant::now();
        server = Server::start(&data, &log, SERVER_ARGS).unwrap_or_else(|e| {
            panic!("round {round}: restart after SIGKILL failed (seed {seed}): {e}")
        });
        let restart = restarting.elapsed();
        figs.restart_max = figs.restart_max.max(restart);
        let mut conn = Conn::try_new(server.addr).unwrap_or_else(|e| panic!("{e}"));
        let mut bad: Vec<String> = logs.iter().flat_map(|l| l.violations.clone()).collect();
        bad.extend(
            verify(&mut conn, round, &mut states, &logs, &mut stream, &mut figs)
                .unwrap_or_else(|e| panic!("round {round}: a verification request failed: {e}")),
        );
        let (mut ops, mut round_acked, mut unknown) = (0, 0, 0);
        for l in &logs {
            ops += l.records.len();
            round_acked += l.acked;
            unknown += l.unknown.len();
            figs.reads += l.reads;
            figs.cond_refused += l.cond_refused;
            figs.server_errors += l.server_errors.len();
            for (k, n) in &l.refused {
                *figs.refused.entry(k.clone()).or_default() += n;
            }
            figs.early_unknown += l.early_unknown.len();
            for e in l.server_errors.iter().chain(&l.early_unknown).take(3) {
                eprintln!("round {round}: unanswered while the server ran: {e}");
            }
        }
        figs.ops += ops;
        figs.acked += round_acked;
        eprintln!(
            "round {round}: killed after {} ms, {ops} operations, {round_acked} acknowledged \
             writes, {unknown} unanswered; restart {} ms; {} violations",
            run_for.as_millis(),
            restart.as_millis(),
            bad.len()
        );
        if !bad.is_empty() {
            for b in &bad {
                eprintln!("VIOLATION {b}");
            }
            violations.extend(bad);
            break;
        }
    }
    let refused: Vec<String> = figs
        .refused
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    eprintln!(
        "server crash campaign: seed {seed}, {rounds} rounds in {:.1} s (longest restart {} ms): \
         {} operations; {} acknowledged writes and {} consistent reads verified; {} refused by \
         condition; refused without effect: [{}]; {} server errors; {} transport failures \
         before the kill; {} in-flight writes \
         resolved ({} visibly applied; {} transactions, all or nothing); {} key checks; {} \
         index checks ({} GSI queries, {} GSI scans, {} LSI queries; {} index items compared); \
         stream: {} records replayed, {} last-image checks; {} violations",
        campaign.elapsed().as_secs_f64(),
        figs.restart_max.as_millis(),
        figs.ops,
        figs.acked,
        figs.reads,
        figs.cond_refused,
        refused.join(", "),
        figs.server_errors,
        figs.early_unknown,
        figs.in_flight,
        figs.in_flight_applied,
        figs.in_flight_tx,
        figs.keys_checked,
        figs.index_checks(),
        figs.gsi_queries,
        figs.gsi_scans,
        figs.lsi_queries,
        figs.index_items,
        figs.stream_records,
        figs.stream_keys,
        violations.len()
    );
    assert!(
        violations.is_empty(),
        "{} violations (HASHLOG_SRV_CRASH_SEED={seed}); first: {}",
        violations.len(),
        violations[0]
    );
    assert!(figs.acked > 0, "nothing was acknowledged");
    assert!(figs.index_checks() > 0 && figs.stream_keys > 0);
}

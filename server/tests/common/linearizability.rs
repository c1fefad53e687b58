//! A linearizability checker for one object's history (Wing & Gong's search with Lowe's
//! just-in-time linearization and memoization, as in Porcupine and Knossos).
//!
//! A history is a set of operations, each with an invocation time, a response time and its
//! observed outcome. It is linearizable when there is an order of the operations that respects
//! real time (an operation that responded before another was invoked comes first) and in which
//! every operation, applied to the sequential [`Model`], produces its observed outcome.
//!
//! The search walks the operations in time order keeping a stack of tentatively linearized
//! ones; at an operation's call it tries to linearize it now (the model accepts its outcome from
//! the current state), and at a return whose operation is not yet linearized it backtracks.
//! A set of (linearized operations, model state) pairs already explored prunes the search: the
//! linearized set is kept as a 128-bit Zobrist hash. An operation whose outcome is unknown (the
//! client saw no answer) gets an infinite response time, so it may take effect at any point
//! after its invocation, or never (after everything else).

use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    /// An operation with its observed outcome.
    type Op: Debug;
    fn init(&self) -> Self::State;
    /// The state after `op` from `state`, or `None` when `op`'s observed outcome is impossible
    /// from `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
}

/// One completed (or unanswered) operation.
#[derive(Debug, Clone)]
pub struct Event<O> {
    /// Invocation, in any monotone unit (the tests use nanoseconds since the run started).
    pub call: u64,
    /// Response; [`NO_RESPONSE`] when the client never saw one.
    pub ret: u64,
    pub op: O,
}

pub const NO_RESPONSE: u64 = u64::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order works.
    Violation,
    /// The search exceeded its step budget.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub verdict: Verdict,
    pub steps: usize,
    pub cache_entries: usize,
}

const NONE: usize = usize::MAX;

/// Splitmix64, for the Zobrist keys.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Checks one object's history against `model`, giving up after `step_budget` search steps.
pub fn check<M: Model>(model: &M, history: &[Event<M::Op>], step_budget: usize) -> Report {
    let n = history.len();
    // Entries 0..n are calls, n..2n returns; 2n is the list head.
    let head = 2 * n;
    let mut order: Vec<usize> = (0..2 * n).collect();
    let time = |e: usize| {
        if e < n {
            (history[e].call, 0u8)
        } else {
            // At equal times a call sorts before a return: the two overlap.
            (history[e - n].ret, 1u8)
        }
    };
    order.sort_by_key(|&e| time(e));
    let mut next = vec![NONE; 2 * n + 1];
    let mut prev = vec![NONE; 2 * n + 1];
    let mut last = head;
    for &e in &order {
        next[last] = e;
        prev[e] = last;
        last = e;
    }
    let zobrist: Vec<u128> = (0..n as u64)
        .map(|i| (u128::from(mix(2 * i + 1)) << 64) | u128::from(mix(2 * i + 2)))
        .collect();

    let lift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, call: usize| {
        let ret = call + n;
        next[prev[call]] = next[call];
        if next[call] != NONE {
            prev[next[call]] = prev[call];
        }
        next[prev[ret]] = next[ret];
        if next[ret] != NONE {
            prev[next[ret]] = prev[ret];
        }
    };
    let unlift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, call: usize| {
        let ret = call + n;
        next[prev[ret]] = ret;
        if next[ret] != NONE {
            prev[next[ret]] = ret;
        }
        next[prev[call]] = call;
        if next[call] != NONE {
            prev[next[call]] = call;
        }
    };

    let mut state = model.init();
    let mut linearized: u128 = 0;
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut cache: HashSet<(u128, M::State)> = HashSet::new();
    let mut steps = 0usize;
    let mut entry = next[head];
    let report = |verdict, steps, cache: &HashSet<(u128, M::State)>| Report {
        verdict,
        steps,
        cache_entries: cache.len(),
    };
    while next[head] != NONE {
        steps += 1;
        if steps > step_budget {
            return report(Verdict::Unknown, steps, &cache);
        }
        if entry == NONE {
            // Cannot happen: every call is followed by its own return.
            return report(Verdict::Violation, steps, &cache);
        }
        if entry < n {
            if let Some(s) = model.step(&state, &history[entry].op) {
                let l = linearized ^ zobrist[entry];
                if cache.insert((l, s.clone())) {
                    stack.push((entry, std::mem::replace(&mut state, s)));
                    linearized = l;
                    lift(&mut next, &mut prev, entry);
                    entry = next[head];
                    continue;
                }
            }
            entry = next[entry];
        } else {
            // The return of an operation not yet linearized: undo the last choice.
            let Some((call, s)) = stack.pop() else {
                return report(Verdict::Violation, steps, &cache);
            };
            state = s;
            linearized ^= zobrist[call];
            unlift(&mut next, &mut prev, call);
            entry = next[call];
        }
    }
    report(Verdict::Linearizable, steps, &cache)
}

// ---------------------------------------------------------------------------------------------
// The models the concurrency test uses.

/// What a conditional or unconditional write's client saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The condition was false (nothing written).
    Failed,
    /// No answer: it may or may not have taken effect.
    Unknown,
}

/// A register holding `(version, value)` or nothing, written by version compare-and-set.
pub struct VersionRegister;

#[derive(Debug, Clone)]
pub enum RegisterOp {
    Read(Option<(u64, u64)>),
    /// Write `new` if the current version is `expect` (`None`: if the item does not exist).
    Cas {
        expect: Option<u64>,
        new: (u64, u64),
        outcome: Outcome,
    },
    Write {
        new: (u64, u64),
        outcome: Outcome,
    },
}

impl Model for VersionRegister {
    type State = Option<(u64, u64)>;
    type Op = RegisterOp;
    fn init(&self) -> Self::State {
        None
    }
    fn step(&self, s: &Self::State, op: &RegisterOp) -> Option<Self::State> {
        match op {
            RegisterOp::Read(v) => (v == s).then_some(*s),
            RegisterOp::Cas {
                expect,
                new,
                outcome,
            } => {
                let matches = s.map(|(ver, _)| ver) == *expect;
                match (outcome, matches) {
                    (Outcome::Ok, true) | (Outcome::Unknown, true) => Some(Some(*new)),
                    (Outcome::Failed, false) | (Outcome::Unknown, false) => Some(*s),
                    _ => None,
                }
            }
            RegisterOp::Write { new, outcome } => match outcome {
                Outcome::Failed => Some(*s),
                _ => Some(Some(*new)),
            },
        }
    }
}

/// A counter incremented by one (UpdateItem ADD) and read.
pub struct Counter;

#[derive(Debug, Clone)]
pub enum CounterOp {
    /// The value after the increment, when the client saw it.
    Inc(Option<i64>),
    Read(i64),
}

impl Model for Counter {
    type State = i64;
    type Op = CounterOp;
    fn init(&self) -> i64 {
        0
    }
    fn step(&self, s: &i64, op: &CounterOp) -> Option<i64> {
        match op {
            CounterOp::Inc(None) => Some(s + 1),
            CounterOp::Inc(Some(v)) => (*v == s + 1).then_some(*v),
            CounterOp::Read(v) => (v == s).then_some(*s),
        }
    }
}

/// Two balances; a transfer moves `amount` if the source holds at least that much.
pub struct Accounts {
    pub initial: (i64, i64),
}

#[derive(Debug, Clone)]
pub enum AccountsOp {
    Transfer {
        a_to_b: bool,
        amount: i64,
        /// `Failed`: cancelled because the source held less than `amount`.
        outcome: Outcome,
    },
    Read(i64, i64),
}

impl Model for Accounts {
    type State = (i64, i64);
    type Op = AccountsOp;
    fn init(&self) -> (i64, i64) {
        self.initial
    }
    fn step(&self, s: &(i64, i64), op: &AccountsOp) -> Option<(i64, i64)> {
        match op {
            AccountsOp::Read(a, b) => ((*a, *b) == *s).then_some(*s),
            AccountsOp::Transfer {
                a_to_b,
                amount,
                outcome,
            } => {
                let source = if *a_to_b { s.0 } else { s.1 };
                let moved = if *a_to_b {
                    (s.0 - amount, s.1 + amount)
                } else {
                    (s.0 + amount, s.1 - amount)
                };
                match (outcome, source >= *amount) {
                    (Outcome::Ok, true) | (Outcome::Unknown, true) => Some(moved),
                    (Outcome::Failed, false) | (Outcome::Unknown, false) => Some(*s),
                    _ => None,
                }
            }
        }
    }
}

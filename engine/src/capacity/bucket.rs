//! A lock-free token bucket in fixed point (milli-units), refilled lazily from the clock.
//!
//! Admission asks "is the balance positive?"; the real cost is debited afterwards and may drive
//! the balance negative (DynamoDB learns a read's size only after reading), which makes later
//! requests wait until refill brings it back above zero.
//!
//! Refill never drifts: the credit for an interval `(last, now]` at rate `r` milli-units/s is
//! `floor(now·r/10⁶) − floor(last·r/10⁶)`, which telescopes, so the sum over any sequence of
//! refills equals the credit of one refill over the whole span. The balance never exceeds the
//! capacity (the burst allowance).
//!
//! Concurrency: `last_us` is advanced by one compare-and-swap; only its winner adds the credit
//! for the interval it claimed (a CAS loop on the balance that also applies the cap). Debits are
//! a single `fetch_sub`. A loser of the refill race reads a balance that is at most one interval
//! stale, which can only make it throttle a request that a serial bucket would have admitted
//! (never the reverse).
//!
//! [`CreditBucket`] is the same bucket with its debits counted outside it (a partition's
//! consumed counter), so one atomic add is both the debit and the count.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use super::clock::MICROS_PER_SEC;

/// Fixed-point scale: one capacity unit is 1,000 milli-units.
pub const MILLI: i64 = 1000;

/// Refill only when at least this much time passed since the last refill, so concurrent
/// requests microseconds apart do not all write the shared bucket.
pub const REFILL_QUANTUM_MICROS: u64 = 200;

/// Units (as `units.rs` computes them, in half-unit steps) to milli-units, rounded; negative
/// and NaN become 0.
#[inline]
pub fn to_milli(units: f64) -> i64 {
    let m = units * MILLI as f64;
    if m.is_nan() || m < 0.5 {
        0
    } else if m >= i64::MAX as f64 {
        i64::MAX / 4
    } else {
        // Round half away from zero, as `f64::round` (a libm call on x86-64 without SSE4.1):
        // the truncation is exact and so is `m − t`.
        let t = m as i64;
        if m - t as f64 >= 0.5 {
            t + 1
        } else {
            t
        }
    }
}

/// Milli-units back to units.
#[inline]
pub fn from_milli(milli: i64) -> f64 {
    milli as f64 / MILLI as f64
}

/// The credit of `(last_us, now_us]` at `rate_milli` per second:
/// `floor(now·r/10⁶) − floor(last·r/10⁶)` (`i64::MAX / 4` if it does not fit an `i64`).
///
/// Computed without a 128-bit division (a `__udivti3` call took a fifth of the admission
/// time): with `t = q·10⁶ + s` (`s < 10⁶`), `floor(t·r/10⁶) = q·r + floor(s·r/10⁶)`, so the
/// credit is `(q_now − q_last)·r + floor(s_now·r/10⁶) − floor(s_last·r/10⁶)`; the divisions
/// left are by a constant of a 64-bit value (a multiply), unless `s·r` overflows 64 bits.
#[inline]
pub(crate) fn credit_milli(last_us: u64, now_us: u64, rate_milli: u64) -> i64 {
    debug_assert!(last_us <= now_us);
    let (q_now, s_now) = (now_us / MICROS_PER_SEC, now_us % MICROS_PER_SEC);
    let (q_last, s_last) = (last_us / MICROS_PER_SEC, last_us % MICROS_PER_SEC);
    let frac = |s: u64| -> u128 {
        let x = s as u128 * rate_milli as u128;
        match u64::try_from(x) {
            Ok(x) => (x / MICROS_PER_SEC) as u128,
            Err(_) => x / MICROS_PER_SEC as u128,
        }
    };
    // q_now ≥ q_last, and when equal s_now ≥ s_last: no term goes below zero overall.
    let credit = (q_now - q_last) as u128 * rate_milli as u128 + frac(s_now) - frac(s_last);
    i64::try_from(credit).unwrap_or(i64::MAX / 4)
}

/// Where a bucket keeps its balance.
trait Ledger {
    fn balance(&self) -> i64;
    /// Replaces the balance `b` by `f(b)` atomically (a compare-and-swap loop).
    fn update(&self, f: impl Fn(i64) -> i64);
}

impl Ledger for AtomicI64 {
    #[inline]
    fn balance(&self) -> i64 {
        self.load(Relaxed)
    }

    #[inline]
    fn update(&self, f: impl Fn(i64) -> i64) {
        let _ = self.fetch_update(Relaxed, Relaxed, |b| Some(f(b)));
    }
}

/// The debits of a [`CreditBucket`]: a counter, or a weighted sum of counters, that only grows
/// (wrapping).
pub trait Debits {
    /// Everything debited so far, modulo 2⁶⁴.
    fn total(&self) -> u64;
}

impl Debits for AtomicU64 {
    #[inline]
    fn total(&self) -> u64 {
        self.load(Relaxed)
    }
}

/// `Σ weightᵢ · counterᵢ` (wrapping): the debits of a bucket that several counters charge at
/// different prices — a partition's combined maximum, where a read milli-unit costs
/// `write_max` and a write milli-unit `read_max`.
#[derive(Debug, Clone, Copy)]
pub struct Weighted<'a, const N: usize> {
    /// The counters.
    pub counters: [&'a AtomicU64; N],
    /// The price of one unit of each counter.
    pub weights: [u64; N],
}

impl<const N: usize> Debits for Weighted<'_, N> {
    #[inline]
    fn total(&self) -> u64 {
        self.counters
            .iter()
            .zip(self.weights)
            .fold(0u64, |sum, (c, w)| {
                sum.wrapping_add(c.load(Relaxed).wrapping_mul(w))
            })
    }
}

/// A balance kept as a credit counter less debits counted by someone else (wrapping 64-bit
/// arithmetic: exact while the balance stays within ±2⁶³).
struct CreditLedger<'a, D: Debits + ?Sized> {
    credit: &'a AtomicU64,
    debits: &'a D,
}

impl<D: Debits + ?Sized> Ledger for CreditLedger<'_, D> {
    #[inline]
    fn balance(&self) -> i64 {
        let (c, d) = (self.credit.load(Relaxed), self.debits.total());
        c.wrapping_sub(d) as i64
    }

    /// A debit landing between the read of `debits` and the swap is not seen by `f`: when `f`
    /// caps the balance, the cap then holds against the older debits and the balance ends up to
    /// that debit below the cap (credit the cap would mostly have discarded; never more).
    #[inline]
    fn update(&self, f: impl Fn(i64) -> i64) {
        let mut c = self.credit.load(Relaxed);
        loop {
            let d = self.debits.total();
            let next = d.wrapping_add(f(c.wrapping_sub(d) as i64) as u64);
            match self.credit.compare_exchange_weak(c, next, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(now) => c = now,
            }
        }
    }
}

/// Rate, cap and refill time of a bucket, and the refill rule, whatever keeps the balance.
#[derive(Debug)]
struct Refill {
    last_us: AtomicU64,
    rate: AtomicU64,
    cap: AtomicI64,
}

impl Refill {
    fn new(rate_milli: u64, cap_milli: i64, now_us: u64) -> Refill {
        Refill {
            last_us: AtomicU64::new(now_us),
            rate: AtomicU64::new(rate_milli),
            cap: AtomicI64::new(cap_milli),
        }
    }

    /// Adds to `ledger` the credit accrued since the last refill (at most up to the cap), if
    /// at least `quantum_us` passed.
    #[inline]
    fn refill_after(&self, ledger: &impl Ledger, now_us: u64, quantum_us: u64) {
        let last = self.last_us.load(Relaxed);
        if now_us <= last || now_us < last.saturating_add(quantum_us) {
            return;
        }
        let cap = self.cap.load(Relaxed);
        if ledger.balance() >= cap {
            // Full: nothing to add (the cap discards it), only move the clock on.
            self.last_us.fetch_max(now_us, Relaxed);
            return;
        }
        if self
            .last_us
            .compare_exchange(last, now_us, Relaxed, Relaxed)
            .is_err()
        {
            return;
        }
        let credit = credit_milli(last, now_us, self.rate.load(Relaxed));
        ledger.update(|b| b.saturating_add(credit).min(cap));
    }

    /// Changes rate and cap from `now_us` on: credit up to now accrues at the old rate, and the
    /// balance is clamped to the new cap.
    fn set_rate(&self, ledger: &impl Ledger, rate_milli: u64, cap_milli: i64, now_us: u64) {
        self.refill_after(ledger, now_us, 0);
        self.rate.store(rate_milli, Relaxed);
        self.cap.store(cap_milli, Relaxed);
        ledger.update(|b| b.min(cap_milli));
    }
}

/// A token bucket: `rate` milli-units per second, balance capped at `cap` milli-units.
#[derive(Debug)]
pub struct TokenBucket {
    balance: AtomicI64,
    refill: Refill,
}

impl TokenBucket {
    /// A bucket refilling at `rate_milli` per second up to `cap_milli`, holding `initial_milli`
    /// at `now_us`.
    pub fn new(rate_milli: u64, cap_milli: i64, initial_milli: i64, now_us: u64) -> TokenBucket {
        TokenBucket {
            balance: AtomicI64::new(initial_milli.min(cap_milli)),
            refill: Refill::new(rate_milli, cap_milli, now_us),
        }
    }

    /// Adds the credit accrued since the last refill (at most up to the cap).
    #[inline]
    pub fn refill(&self, now_us: u64) {
        self.refill
            .refill_after(&self.balance, now_us, REFILL_QUANTUM_MICROS);
    }

    /// Refills, then answers whether the balance is positive (a request may start).
    #[inline]
    pub fn admits(&self, now_us: u64) -> bool {
        self.refill(now_us);
        self.balance.load(Relaxed) > 0
    }

    /// Debits what a request actually consumed; the balance may go negative.
    #[inline]
    pub fn debit(&self, milli: i64) {
        self.balance.fetch_sub(milli, Relaxed);
    }

    /// Sets the balance (used when a bucket starts: one second of capacity, not a full burst).
    pub fn set_balance(&self, milli: i64) {
        self.balance.store(milli.min(self.cap_milli()), Relaxed);
    }

    /// The balance in milli-units (without refilling).
    #[inline]
    pub fn balance_milli(&self) -> i64 {
        self.balance.load(Relaxed)
    }

    /// The refill rate in milli-units per second.
    #[inline]
    pub fn rate_milli(&self) -> u64 {
        self.refill.rate.load(Relaxed)
    }

    /// The cap in milli-units.
    #[inline]
    pub fn cap_milli(&self) -> i64 {
        self.refill.cap.load(Relaxed)
    }

    /// Changes rate and cap from `now_us` on: credit up to now accrues at the old rate, and the
    /// balance is clamped to the new cap.
    pub fn set_rate(&self, rate_milli: u64, cap_milli: i64, now_us: u64) {
        self.refill
            .set_rate(&self.balance, rate_milli, cap_milli, now_us);
    }
}

/// A token bucket whose debits are counted elsewhere — a partition's consumed counters — so
/// that one atomic add on a partition debits its allowance bucket, debits its maximum bucket
/// (whose debits are the weighted sum of both consumed counters, see [`Weighted`]) and counts
/// the consumption: a charge does one locked instruction on the partition instead of three.
/// The bucket keeps its credit instead: the initial balance plus every refill, less what the
/// cap cut off; the balance is `credit − debits`. Every method takes the debits; debiting is
/// adding to them. Same refill rule and cap as [`TokenBucket`].
#[derive(Debug)]
pub struct CreditBucket {
    credit: AtomicU64,
    refill: Refill,
}

impl CreditBucket {
    /// A bucket refilling at `rate_milli` per second up to `cap_milli`, holding `initial_milli`
    /// at `now_us` against a debit counter that reads 0.
    pub fn new(rate_milli: u64, cap_milli: i64, initial_milli: i64, now_us: u64) -> CreditBucket {
        CreditBucket {
            credit: AtomicU64::new(initial_milli.min(cap_milli) as u64),
            refill: Refill::new(rate_milli, cap_milli, now_us),
        }
    }

    #[inline]
    fn ledger<'a, D: Debits>(&'a self, debits: &'a D) -> CreditLedger<'a, D> {
        CreditLedger {
            credit: &self.credit,
            debits,
        }
    }

    /// Adds the credit accrued since the last refill (at most up to the cap).
    #[inline]
    pub fn refill(&self, now_us: u64, debits: &impl Debits) {
        self.refill
            .refill_after(&self.ledger(debits), now_us, REFILL_QUANTUM_MICROS);
    }

    /// Refills, then answers whether the balance is positive (a request may start).
    #[inline]
    pub fn admits(&self, now_us: u64, debits: &impl Debits) -> bool {
        self.refill(now_us, debits);
        self.balance_milli(debits) > 0
    }

    /// Sets the balance (used when a bucket starts: one second of capacity, not a full burst).
    pub fn set_balance(&self, milli: i64, debits: &impl Debits) {
        let milli = milli.min(self.cap_milli());
        self.ledger(debits).update(|_| milli);
    }

    /// The balance in milli-units (without refilling).
    #[inline]
    pub fn balance_milli(&self, debits: &impl Debits) -> i64 {
        self.ledger(debits).balance()
    }

    /// The refill rate in milli-units per second.
    #[inline]
    pub fn rate_milli(&self) -> u64 {
        self.refill.rate.load(Relaxed)
    }

    /// The cap in milli-units.
    #[inline]
    pub fn cap_milli(&self) -> i64 {
        self.refill.cap.load(Relaxed)
    }

    /// Changes rate and cap from `now_us` on: credit up to now accrues at the old rate, and the
    /// balance is clamped to the new cap.
    pub fn set_rate(&self, rate_milli: u64, cap_milli: i64, now_us: u64, debits: &impl Debits) {
        self.refill
            .set_rate(&self.ledger(debits), rate_milli, cap_milli, now_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: u64 = MICROS_PER_SEC;

    #[test]
    fn refills_at_rate_and_caps_at_burst() {
        // 100 units/s, 300 s of burst.
        let b = TokenBucket::new(100 * MILLI as u64, 30_000 * MILLI, 0, 0);
        b.refill(S);
        assert_eq!(b.balance_milli(), 100 * MILLI);
        b.refill(1_000 * S);
        assert_eq!(b.balance_milli(), 30_000 * MILLI);
    }

    #[test]
    fn refill_does_not_drift_over_many_small_steps() {
        // 1/3 unit per second refilled every 7 µs-ish step (above the quantum) sums exactly.
        let b = TokenBucket::new(333, i64::MAX / 4, 0, 0);
        let mut t = 0;
        while t < 10 * S {
            t += REFILL_QUANTUM_MICROS + 3;
            b.refill(t);
        }
        assert_eq!(b.balance_milli() as u128, t as u128 * 333 / S as u128);
    }

    #[test]
    fn overdraft_makes_later_requests_wait() {
        let b = TokenBucket::new(10 * MILLI as u64, 100 * MILLI, MILLI, 0);
        assert!(b.admits(0));
        b.debit(25 * MILLI); // a larger item than expected: -24 units
        assert!(!b.admits(S)); // -14
        assert!(!b.admits(2 * S)); // -4
        assert!(b.admits(3 * S)); // +6
    }

    #[test]
    fn rate_change_keeps_credit_earned_at_old_rate() {
        let b = TokenBucket::new(10 * MILLI as u64, 1_000 * MILLI, 0, 0);
        b.set_rate(100 * MILLI as u64, 1_000 * MILLI, 2 * S);
        assert_eq!(b.balance_milli(), 20 * MILLI);
        b.refill(3 * S);
        assert_eq!(b.balance_milli(), 120 * MILLI);
        b.set_rate(1, 50 * MILLI, 3 * S);
        assert_eq!(b.balance_milli(), 50 * MILLI);
    }

    /// `to_milli` as first written, with `f64::round`.
    fn to_milli_reference(units: f64) -> i64 {
        let m = (units * MILLI as f64).round();
        if m.is_nan() || m <= 0.0 {
            0
        } else if m >= i64::MAX as f64 {
            i64::MAX / 4
        } else {
            m as i64
        }
    }

    #[test]
    fn milli_conversion_equals_rounding_at_the_edges() {
        let xs = [
            0.0,
            -0.0,
            0.0004,
            0.0005,
            0.00049999999999999,
            0.0015,
            0.4999999999999999,
            1.0005,
            2.5,
            1e15,
            9.3e15,
            1e16,
            4.5e15 + 0.5,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            f64::NAN,
            f64::MIN_POSITIVE,
        ];
        for x in xs {
            assert_eq!(to_milli(x), to_milli_reference(x), "{x:e}");
        }
    }

    #[test]
    fn milli_conversion_rounds_half_units_exactly() {
        assert_eq!(to_milli(0.5), 500);
        assert_eq!(to_milli(400.0), 400_000);
        assert_eq!(to_milli(-1.0), 0);
        assert_eq!(to_milli(f64::NAN), 0);
        assert_eq!(from_milli(1500), 1.5);
    }

    /// The credit formula as the bucket first computed it (128-bit divisions).
    fn credit_reference(last: u64, now: u64, rate: u64) -> i64 {
        let (rate, per_sec) = (rate as u128, S as u128);
        let credit = (now as u128 * rate / per_sec) - (last as u128 * rate / per_sec);
        i64::try_from(credit).unwrap_or(i64::MAX / 4)
    }

    #[test]
    fn credit_matches_the_128_bit_formula_at_the_edges() {
        let rates = [
            0,
            1,
            333,
            999_999,
            1_000_000,
            3_000_000_000,
            u64::MAX / 3,
            u64::MAX,
        ];
        let times = [
            0,
            1,
            S - 1,
            S,
            S + 1,
            1_733_000_000 * S + 123_456,
            u64::MAX - 1,
            u64::MAX,
        ];
        for r in rates {
            for a in times {
                for b in times {
                    let (last, now) = (a.min(b), a.max(b));
                    assert_eq!(
                        credit_milli(last, now, r),
                        credit_reference(last, now, r),
                        "last {last} now {now} rate {r}"
                    );
                }
            }
        }
    }

    proptest! {
        /// `to_milli` rounds as `f64::round` did.
        #[test]
        fn milli_conversion_equals_rounding(
            units in prop_oneof![0.0f64..10.0, 0.0f64..1e6, -1.0f64..1e17, proptest::num::f64::ANY],
            half_units in 0u32..100_000,
        ) {
            prop_assert_eq!(to_milli(units), to_milli_reference(units));
            let h = half_units as f64 / 2.0;
            prop_assert_eq!(to_milli(h), half_units as i64 * 500);
        }

        /// The division-free credit equals the 128-bit formula.
        #[test]
        fn credit_equals_the_128_bit_formula(
            last in 0u64..u64::MAX / 2,
            span in prop_oneof![0u64..10 * S, 0u64..u64::MAX / 2],
            rate in prop_oneof![0u64..10_000_000_000, 0u64..u64::MAX],
        ) {
            let now = last + span;
            prop_assert_eq!(credit_milli(last, now, rate), credit_reference(last, now, rate));
        }

        /// Over any window of a random arrival pattern, admitted units never exceed
        /// rate × window + cap + one request's overdraft — for both kinds of bucket (the
        /// credit bucket's debit counter starting anywhere, wrap-around included).
        #[test]
        fn never_admits_more_than_rate_times_window_plus_burst(
            rate_units in 1u64..2_000,
            cap_secs in 1u64..400,
            arrivals in proptest::collection::vec((0u64..200_000, 1u64..50_000), 1..250),
            debits_from in prop_oneof![Just(0u64), Just(u64::MAX - 20_000), any::<u64>()],
        ) {
            let rate = rate_units * MILLI as u64;
            let cap = (rate * cap_secs) as i64;
            let b = TokenBucket::new(rate, cap, cap, 0);
            let debits = AtomicU64::new(debits_from);
            let c = CreditBucket::new(rate, cap, 0, 0);
            c.set_balance(cap, &debits);
            let admitted_token =
                admitted_by(&arrivals, |t| b.admits(t), |cost| b.debit(cost));
            let admitted_credit = admitted_by(
                &arrivals,
                |t| c.admits(t, &debits),
                |cost| {
                    debits.fetch_add(cost as u64, Relaxed);
                },
            );
            for admitted in [admitted_token, admitted_credit] {
                let max_req = arrivals.iter().map(|a| a.1 as i64).max().unwrap_or(0);
                for i in 0..admitted.len() {
                    let mut sum = 0i64;
                    for j in i..admitted.len() {
                        sum += admitted[j].1;
                        let window = admitted[j].0 - admitted[i].0;
                        let bound =
                            (rate as u128 * window as u128 / S as u128) as i64 + cap + max_req;
                        prop_assert!(sum <= bound, "window {window} µs admitted {sum} > {bound}");
                    }
                }
            }
        }

        /// Driven by the same random operations (refills, debits, rate changes, balance
        /// sets), a credit bucket and a token bucket hold the same balance at every step.
        #[test]
        fn credit_bucket_balance_equals_token_bucket_balance(
            rate in 0u64..5_000_000,
            cap in 0i64..2_000_000_000,
            initial in -1_000_000i64..2_000_000_000,
            debits_from in prop_oneof![Just(0u64), Just(u64::MAX - 1_000_000), any::<u64>()],
            ops in proptest::collection::vec((0u8..5, 0u64..3 * S, 0u64..3_000_000), 1..200),
        ) {
            let b = TokenBucket::new(rate, cap, initial, 0);
            let debits = AtomicU64::new(debits_from);
            let c = CreditBucket::new(rate, cap, 0, 0);
            c.set_balance(initial, &debits);
            prop_assert_eq!(c.balance_milli(&debits), b.balance_milli());
            let mut t = 0u64;
            for (kind, dt, x) in ops {
                t += dt;
                match kind {
                    0 => {
                        prop_assert_eq!(c.admits(t, &debits), b.admits(t));
                    }
                    1 => {
                        b.debit(x as i64);
                        debits.fetch_add(x, Relaxed);
                    }
                    2 => {
                        let cap = (x as i64) * 300;
                        b.set_rate(x, cap, t);
                        c.set_rate(x, cap, t, &debits);
                    }
                    3 => {
                        b.set_balance(x as i64);
                        c.set_balance(x as i64, &debits);
                    }
                    _ => {
                        b.refill(t);
                        c.refill(t, &debits);
                    }
                }
                prop_assert_eq!(c.balance_milli(&debits), b.balance_milli());
                prop_assert_eq!(c.rate_milli(), b.rate_milli());
                prop_assert_eq!(c.cap_milli(), b.cap_milli());
            }
        }
    }

    proptest! {
        /// A credit bucket whose debits are two counters at different prices (a partition's
        /// maximum) holds the balance of a token bucket debited `price × units` directly, the
        /// counters starting anywhere (wrap-around included).
        #[test]
        fn weighted_debits_equal_direct_priced_debits(
            weights in (1u64..5_000_000, 1u64..5_000_000),
            from in (any::<u64>(), prop_oneof![Just(u64::MAX - 10), any::<u64>()]),
            ops in proptest::collection::vec((0u8..4, 0u64..S / 2, 0u64..100_000), 1..200),
        ) {
            let rate = 3_000 * 1_000 * MILLI as u64;
            let cap = rate as i64;
            let b = TokenBucket::new(rate, cap, cap, 0);
            let counters = [AtomicU64::new(from.0), AtomicU64::new(from.1)];
            let debits = Weighted {
                counters: [&counters[0], &counters[1]],
                weights: [weights.0, weights.1],
            };
            let c = CreditBucket::new(rate, cap, 0, 0);
            c.set_balance(cap, &debits);
            let mut t = 0u64;
            for (kind, dt, milli) in ops {
                t += dt;
                match kind {
                    0 | 1 => {
                        let i = kind as usize;
                        b.debit(milli as i64 * debits.weights[i] as i64);
                        counters[i].fetch_add(milli, Relaxed);
                    }
                    2 => {
                        prop_assert_eq!(c.admits(t, &debits), b.admits(t));
                    }
                    _ => {
                        b.refill(t);
                        c.refill(t, &debits);
                    }
                }
                prop_assert_eq!(c.balance_milli(&debits), b.balance_milli());
            }
        }
    }

    /// Runs `arrivals` (gap µs, cost milli) through a bucket; returns the admitted ones.
    fn admitted_by(
        arrivals: &[(u64, u64)],
        admits: impl Fn(u64) -> bool,
        debit: impl Fn(i64),
    ) -> Vec<(u64, i64)> {
        let mut t = 0u64;
        let mut admitted = Vec::new();
        for &(dt, cost) in arrivals {
            t += dt;
            if admits(t) {
                debit(cost as i64);
                admitted.push((t, cost as i64));
            }
        }
        admitted
    }

    #[test]
    fn credit_bucket_debits_are_the_external_counter() {
        let debits = AtomicU64::new(0);
        let c = CreditBucket::new(10 * MILLI as u64, 100 * MILLI, MILLI, 0);
        assert!(c.admits(0, &debits));
        debits.fetch_add(25 * MILLI as u64, Relaxed); // -24 units
        assert!(!c.admits(S, &debits)); // -14
        assert!(!c.admits(2 * S, &debits)); // -4
        assert!(c.admits(3 * S, &debits)); // +6
        assert_eq!(c.balance_milli(&debits), 6 * MILLI);
        c.refill(1_000 * S, &debits);
        assert_eq!(c.balance_milli(&debits), 100 * MILLI);
    }
}

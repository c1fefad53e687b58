//! Evaluating conditions against an item, with DynamoDB's semantics: a missing attribute or a
//! type mismatch makes a comparison false (never an error); `<>` is the negation of `=`; strings
//! and binaries order bytewise, numbers numerically; sets compare as sets.
//!
//! Evaluation borrows from the item and the AST; the only values it builds are `size()` results,
//! kept as integers.

use std::cmp::Ordering;

use super::ast::{CmpOp, Condition, Operand};
use super::path::resolve_path;
use super::ExprError;
use crate::model::{AttributeValue, Item, Number};

/// An evaluated operand.
#[derive(Clone, Copy)]
enum Val<'a> {
    Attr(&'a AttributeValue),
    /// A `size()` result.
    Size(usize),
}

fn size_of(v: &AttributeValue) -> Option<usize> {
    match v {
        // A string's size is its length in UTF-16 code units, as DynamoDB measures it
        // (`size("é𝄞")` is 3), not its UTF-8 bytes.
        AttributeValue::S(s) => Some(s.encode_utf16().count()),
        AttributeValue::B(b) => Some(b.len()),
        AttributeValue::SS(s) => Some(s.len()),
        AttributeValue::NS(s) => Some(s.len()),
        AttributeValue::BS(s) => Some(s.len()),
        AttributeValue::L(l) => Some(l.len()),
        AttributeValue::M(m) => Some(m.len()),
        AttributeValue::N(_) | AttributeValue::Bool(_) | AttributeValue::Null => None,
    }
}

fn operand<'a>(o: &'a Operand, item: Option<&'a Item>) -> Option<Val<'a>> {
    match o {
        Operand::Path(p) => item.and_then(|it| resolve_path(it, p)).map(Val::Attr),
        Operand::Value(v) => Some(Val::Attr(&v.value)),
        Operand::Size(inner) => match operand(inner, item)? {
            Val::Attr(v) => size_of(v).map(Val::Size),
            Val::Size(_) => None,
        },
    }
}

/// Compares a size with a number.
fn cmp_size_number(size: usize, n: &Number) -> Ordering {
    match n.to_i64() {
        Some(i) => (size as i128).cmp(&(i as i128)),
        None => Number::from_i64(i64::try_from(size).unwrap_or(i64::MAX)).cmp(n),
    }
}

/// DynamoDB equality: same type and equal value; sets compare as sets, maps by keys, lists
/// element-wise.
pub fn values_equal(a: &AttributeValue, b: &AttributeValue) -> bool {
    use AttributeValue as V;
    match (a, b) {
        (V::S(x), V::S(y)) => x == y,
        (V::N(x), V::N(y)) => x == y,
        (V::B(x), V::B(y)) => x == y,
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Null, V::Null) => true,
        (V::SS(x), V::SS(y)) => x.len() == y.len() && x.iter().all(|e| y.contains(e)),
        (V::NS(x), V::NS(y)) => x.len() == y.len() && x.iter().all(|e| y.contains(e)),
        (V::BS(x), V::BS(y)) => x.len() == y.len() && x.iter().all(|e| y.contains(e)),
        (V::L(x), V::L(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| values_equal(p, q))
        }
        (V::M(x), V::M(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => false,
    }
}

/// Ordering of two scalars of the same ordered type (S, N, B); `None` otherwise.
pub(crate) fn compare_values(a: &AttributeValue, b: &AttributeValue) -> Option<Ordering> {
    use AttributeValue as V;
    match (a, b) {
        (V::S(x), V::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (V::N(x), V::N(y)) => Some(x.cmp(y)),
        (V::B(x), V::B(y)) => Some(x.as_slice().cmp(y.as_slice())),
        _ => None,
    }
}

fn val_equal(a: Val<'_>, b: Val<'_>) -> bool {
    match (a, b) {
        (Val::Attr(x), Val::Attr(y)) => values_equal(x, y),
        (Val::Size(s), Val::Attr(AttributeValue::N(n)))
        | (Val::Attr(AttributeValue::N(n)), Val::Size(s)) => {
            cmp_size_number(s, n) == Ordering::Equal
        }
        (Val::Size(x), Val::Size(y)) => x == y,
        _ => false,
    }
}

fn val_cmp(a: Val<'_>, b: Val<'_>) -> Option<Ordering> {
    match (a, b) {
        (Val::Attr(x), Val::Attr(y)) => compare_values(x, y),
        (Val::Size(s), Val::Attr(AttributeValue::N(n))) => Some(cmp_size_number(s, n)),
        (Val::Attr(AttributeValue::N(n)), Val::Size(s)) => Some(cmp_size_number(s, n).reverse()),
        (Val::Size(x), Val::Size(y)) => Some(x.cmp(&y)),
        _ => None,
    }
}

fn compare(op: CmpOp, a: Option<Val<'_>>, b: Option<Val<'_>>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return op == CmpOp::Ne;
    };
    match op {
        CmpOp::Eq => val_equal(a, b),
        CmpOp::Ne => !val_equal(a, b),
        _ => match val_cmp(a, b) {
            Some(ord) => match op {
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
                CmpOp::Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            },
            None => false,
        },
    }
}

fn is_subslice(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn contains(a: Val<'_>, b: Val<'_>) -> bool {
    use AttributeValue as V;
    let Val::Attr(container) = a else {
        return false;
    };
    match (container, b) {
        (V::S(s), Val::Attr(V::S(t))) => s.contains(t.as_str()),
        (V::B(s), Val::Attr(V::B(t))) => is_subslice(s, t),
        (V::SS(set), Val::Attr(V::S(t))) => set.contains(t),
        (V::NS(set), Val::Attr(V::N(t))) => set.contains(t),
        (V::NS(set), Val::Size(s)) => set.iter().any(|n| cmp_size_number(s, n).is_eq()),
        (V::BS(set), Val::Attr(V::B(t))) => set.contains(t),
        (V::L(list), b) => list.iter().any(|e| val_equal(Val::Attr(e), b)),
        _ => false,
    }
}

fn begins_with(a: Val<'_>, b: Val<'_>) -> bool {
    use AttributeValue as V;
    match (a, b) {
        (Val::Attr(V::S(s)), Val::Attr(V::S(p))) => s.starts_with(p.as_str()),
        (Val::Attr(V::B(s)), Val::Attr(V::B(p))) => s.starts_with(p),
        _ => false,
    }
}

fn attribute_type(a: Val<'_>, b: Val<'_>) -> bool {
    let Val::Attr(AttributeValue::S(t)) = b else {
        return false;
    };
    match a {
        Val::Attr(v) => v.type_descriptor() == t,
        Val::Size(_) => t == "N",
    }
}

fn eval(c: &Condition, item: Option<&Item>) -> bool {
    match c {
        Condition::Compare(op, a, b) => compare(*op, operand(a, item), operand(b, item)),
        Condition::Between(v, lo, hi) => {
            let (Some(v), Some(lo), Some(hi)) =
                (operand(v, item), operand(lo, item), operand(hi, item))
            else {
                return false;
            };
            matches!(val_cmp(v, lo), Some(Ordering::Greater | Ordering::Equal))
                && matches!(val_cmp(v, hi), Some(Ordering::Less | Ordering::Equal))
        }
        Condition::In(v, list) => match operand(v, item) {
            Some(v) => list
                .iter()
                .any(|o| operand(o, item).is_some_and(|x| val_equal(v, x))),
            None => false,
        },
        Condition::Exists(p) => item.and_then(|it| resolve_path(it, p)).is_some(),
        Condition::NotExists(p) => item.and_then(|it| resolve_path(it, p)).is_none(),
        Condition::AttributeType(a, b) => match (operand(a, item), operand(b, item)) {
            (Some(a), Some(b)) => attribute_type(a, b),
            _ => false,
        },
        Condition::BeginsWith(a, b) => match (operand(a, item), operand(b, item)) {
            (Some(a), Some(b)) => begins_with(a, b),
            _ => false,
        },
        Condition::Contains(a, b) => match (operand(a, item), operand(b, item)) {
            (Some(a), Some(b)) => contains(a, b),
            _ => false,
        },
        Condition::And(cs) => cs.iter().all(|c| eval(c, item)),
        Condition::Or(cs) => cs.iter().any(|c| eval(c, item)),
        Condition::Not(c) => !eval(c, item),
    }
}

/// Evaluates a condition against an item (`None`: the item does not exist, so every path is
/// missing). Type mismatches and missing attributes make comparisons false, as in DynamoDB.
pub fn eval_condition(cond: &Condition, item: Option<&Item>) -> Result<bool, ExprError> {
    Ok(eval(cond, item))
}

//! Applying an UpdateExpression (or converted AttributeUpdates) to an item.
//!
//! DynamoDB semantics: every `SET` right-hand side is evaluated against the item as it was
//! before the update; then `SET`, `ADD`, `DELETE` and finally `REMOVE` are applied (removals of
//! list elements go from the highest index down, so indexes refer to the original list). Setting
//! a list index past the end appends; `ADD` adds numbers and unions sets (and, for legacy
//! AttributeUpdates, appends lists); `DELETE` removes set elements and removes the attribute when
//! the set becomes empty. On error the item is left unchanged.

use std::collections::BTreeSet;

use super::ast::{Path, PathElem, SetValue, UpdateExpr, UpdateOperand};
use super::path::resolve_path;
use super::ExprError;
use crate::model::{AttributeValue, Item};

/// What an update touched, for ReturnValues UPDATED_OLD / UPDATED_NEW (project the old or new
/// item onto `paths` with [`super::project_paths`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateOutcome {
    /// Every document path an action wrote or removed, as written (an append past a list's end
    /// names the index asked for, not the one it landed at, as DynamoDB reports it).
    pub paths: Vec<Path>,
}

impl UpdateOutcome {
    /// The top-level attributes the update touched.
    pub fn top_level_names(&self) -> BTreeSet<&str> {
        self.paths.iter().map(Path::head).collect()
    }
}

fn invalid_path() -> ExprError {
    ExprError::new("The document path provided in the update expression is invalid for update")
}

fn missing_attribute() -> ExprError {
    ExprError::new("The provided expression refers to an attribute that does not exist in the item")
}

fn wrong_type(legacy: bool) -> ExprError {
    if legacy {
        ExprError::new("Type mismatch for attribute to update")
    } else {
        ExprError::new("An operand in the update expression has an incorrect data type")
    }
}

fn eval_operand(o: &UpdateOperand, item: &Item) -> Result<AttributeValue, ExprError> {
    match o {
        UpdateOperand::Path(p) => resolve_path(item, p).cloned().ok_or_else(missing_attribute),
        UpdateOperand::Value(v) => Ok(v.value.clone()),
        UpdateOperand::IfNotExists(p, alt) => match resolve_path(item, p) {
            Some(v) => Ok(v.clone()),
            None => eval_operand(alt, item),
        },
        UpdateOperand::ListAppend(a, b) => {
            let (a, b) = (eval_operand(a, item)?, eval_operand(b, item)?);
            match (a, b) {
                (AttributeValue::L(mut x), AttributeValue::L(y)) => {
                    x.extend(y);
                    Ok(AttributeValue::L(x))
                }
                _ => Err(wrong_type(false)),
            }
        }
    }
}

fn eval_set_value(v: &SetValue, item: &Item) -> Result<AttributeValue, ExprError> {
    match v {
        SetValue::Operand(o) => eval_operand(o, item),
        SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
            let (a, b) = (eval_operand(a, item)?, eval_operand(b, item)?);
            let (AttributeValue::N(x), AttributeValue::N(y)) = (a, b) else {
                return Err(wrong_type(false));
            };
            let r = if matches!(v, SetValue::Plus(..)) {
                x.checked_add(&y)
            } else {
                x.checked_sub(&y)
            };
            r.map(AttributeValue::N)
                .map_err(|e| ExprError::new(e.to_string()))
        }
    }
}

/// The container slot a path's last step names.
enum Slot<'a> {
    Map(&'a mut Item, &'a str),
    List(&'a mut Vec<AttributeValue>, u32),
}

/// Walks to the container holding the last step of `path`; every intermediate step must exist
/// with the right type, and the container must be a map (last step a name) or a list (index).
fn slot<'a>(item: &'a mut Item, path: &'a Path) -> Result<Slot<'a>, ExprError> {
    let elems = &path.0;
    let Some((last, init)) = elems.split_last() else {
        return Err(invalid_path());
    };
    if init.is_empty() {
        return match last {
            PathElem::Name(n) => Ok(Slot::Map(item, &n.name)),
            PathElem::Index(_) => Err(invalid_path()),
        };
    }
    let mut cur: &mut AttributeValue = match &init[0] {
        PathElem::Name(n) => item.get_mut(&n.name).ok_or_else(invalid_path)?,
        PathElem::Index(_) => return Err(invalid_path()),
    };
    for e in &init[1..] {
        cur = match (e, cur) {
            (PathElem::Name(n), AttributeValue::M(m)) => {
                m.get_mut(&n.name).ok_or_else(invalid_path)?
            }
            (PathElem::Index(i), AttributeValue::L(l)) => {
                l.get_mut(*i as usize).ok_or_else(invalid_path)?
            }
            _ => return Err(invalid_path()),
        };
    }
    match (last, cur) {
        (PathElem::Name(n), AttributeValue::M(m)) => Ok(Slot::Map(m, &n.name)),
        (PathElem::Index(i), AttributeValue::L(l)) => Ok(Slot::List(l, *i)),
        _ => Err(invalid_path()),
    }
}

impl Slot<'_> {
    fn get_mut(&mut self) -> Option<&mut AttributeValue> {
        match self {
            Slot::Map(m, k) => m.get_mut(*k),
            Slot::List(l, i) => l.get_mut(*i as usize),
        }
    }

    /// Stores `v`; returns the list index it landed at (appends past the end).
    fn put(self, v: AttributeValue) -> Option<u32> {
        match self {
            Slot::Map(m, k) => {
                m.insert(k.to_string(), v);
                None
            }
            Slot::List(l, i) => {
                if (i as usize) < l.len() {
                    l[i as usize] = v;
                    Some(i)
                } else {
                    l.push(v);
                    Some(u32::try_from(l.len() - 1).unwrap_or(u32::MAX))
                }
            }
        }
    }

    fn remove(self) {
        match self {
            Slot::Map(m, k) => {
                m.remove(k);
            }
            Slot::List(l, i) => {
                if (i as usize) < l.len() {
                    l.remove(i as usize);
                }
            }
        }
    }
}

/// A set's union, in DynamoDB's member order (see `AttributeValue::from_json`).
fn union<T: Clone + Ord>(into: &mut Vec<T>, from: &[T]) {
    for x in from {
        if !into.contains(x) {
            into.push(x.clone());
        }
    }
    into.sort();
}

/// `ADD`: numbers add, sets union, (legacy) lists append; a missing target is set to the value.
fn add(existing: &mut AttributeValue, v: &AttributeValue, legacy: bool) -> Result<(), ExprError> {
    use AttributeValue as V;
    match (existing, v) {
        (V::N(x), V::N(y)) => {
            *x = x
                .checked_add(y)
                .map_err(|e| ExprError::new(e.to_string()))?;
        }
        (V::SS(x), V::SS(y)) => union(x, y),
        (V::NS(x), V::NS(y)) => union(x, y),
        (V::BS(x), V::BS(y)) => union(x, y),
        (V::L(x), V::L(y)) if legacy => x.extend(y.iter().cloned()),
        _ => return Err(wrong_type(legacy)),
    }
    Ok(())
}

/// `DELETE`: removes set elements; returns whether the set is now empty.
fn delete(
    existing: &mut AttributeValue,
    v: &AttributeValue,
    legacy: bool,
) -> Result<bool, ExprError> {
    use AttributeValue as V;
    let empty = match (existing, v) {
        (V::SS(x), V::SS(y)) => {
            x.retain(|e| !y.contains(e));
            x.is_empty()
        }
        (V::NS(x), V::NS(y)) => {
            x.retain(|e| !y.contains(e));
            x.is_empty()
        }
        (V::BS(x), V::BS(y)) => {
            x.retain(|e| !y.contains(e));
            x.is_empty()
        }
        _ => return Err(wrong_type(legacy)),
    };
    Ok(empty)
}

fn cmp_paths_desc(a: &Path, b: &Path) -> std::cmp::Ordering {
    for (x, y) in a.0.iter().zip(b.0.iter()) {
        let ord = match (x, y) {
            (PathElem::Name(p), PathElem::Name(q)) => p.name.cmp(&q.name),
            (PathElem::Index(i), PathElem::Index(j)) => i.cmp(j),
            (PathElem::Name(_), PathElem::Index(_)) => std::cmp::Ordering::Less,
            (PathElem::Index(_), PathElem::Name(_)) => std::cmp::Ordering::Greater,
        };
        if ord.is_ne() {
            return ord.reverse();
        }
    }
    b.0.len().cmp(&a.0.len())
}

/// Applies `update` to `item` (an empty item for a new one). On error `item` is unchanged.
pub fn apply_update(update: &UpdateExpr, item: &mut Item) -> Result<UpdateOutcome, ExprError> {
    let legacy = update.legacy;
    // Right-hand sides see the item as it was before the update.
    let mut values = Vec::with_capacity(update.set.len());
    for (_, v) in &update.set {
        values.push(eval_set_value(v, item)?);
    }
    let mut work = item.clone();
    let mut out = UpdateOutcome::default();
    // SETs and ADDs together in path order, list indexes ascending: paths never overlap, so
    // the order matters only for indexes past a list's end, which append. `SET l[4] = :x,
    // l[2] = :y ADD l[3] :z` on a list of two appends y, z, x, as DynamoDB does; in text
    // order y would land on x.
    enum Write<'u> {
        Set(AttributeValue),
        Add(&'u AttributeValue),
    }
    let mut writes: Vec<(&Path, Write)> = update
        .set
        .iter()
        .map(|(p, _)| p)
        .zip(values.into_iter().map(Write::Set))
        .chain(update.add.iter().map(|(p, v)| (p, Write::Add(&v.value))))
        .collect();
    writes.sort_by(|(a, _), (b, _)| cmp_paths_desc(b, a));
    for (path, w) in writes {
        let mut s = slot(&mut work, path)?;
        match w {
            Write::Set(v) => {
                s.put(v);
            }
            Write::Add(v) => match s.get_mut() {
                Some(existing) => add(existing, v, legacy)?,
                None => {
                    s.put(v.clone());
                }
            },
        }
        // The path as written, even where an append landed at a lower index: DynamoDB
        // projects UPDATED_OLD / UPDATED_NEW onto the requested paths.
        out.paths.push(path.clone());
    }
    for (path, v) in &update.delete {
        let mut s = slot(&mut work, path)?;
        let Some(existing) = s.get_mut() else {
            continue;
        };
        if delete(existing, &v.value, legacy)? {
            s.remove();
        }
        out.paths.push(path.clone());
    }
    let mut removes: Vec<&Path> = update.remove.iter().collect();
    removes.sort_by(|a, b| cmp_paths_desc(a, b));
    for path in removes {
        slot(&mut work, path)?.remove();
        out.paths.push(path.clone());
    }
    *item = work;
    Ok(out)
}

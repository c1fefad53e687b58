//! Document paths over items: lookup, and projection (ProjectionExpression, AttributesToGet, and
//! the UPDATED_OLD / UPDATED_NEW return values).
//!
//! Projection keeps nested structure like DynamoDB: `a.b, c[2], c[0]` yields
//! `{a: {b: …}, c: [c[0], c[2]]}`; list elements keep their original order, compacted; a path
//! that does not resolve contributes nothing (and an emptied container is left out).

use std::collections::BTreeMap;

use super::ast::{Path, PathElem, Projection};
use crate::model::{AttributeValue, Item};

/// The value at `path` in `item`, if every step exists with the right container type.
pub fn resolve_path<'a>(item: &'a Item, path: &Path) -> Option<&'a AttributeValue> {
    let mut elems = path.0.iter();
    let mut cur = match elems.next()? {
        PathElem::Name(n) => item.get(&n.name)?,
        PathElem::Index(_) => return None,
    };
    for e in elems {
        cur = match (e, cur) {
            (PathElem::Name(n), AttributeValue::M(m)) => m.get(&n.name)?,
            (PathElem::Index(i), AttributeValue::L(l)) => l.get(*i as usize)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// What to keep of a value.
enum Node<'a> {
    Whole,
    Map(BTreeMap<&'a str, Node<'a>>),
    List(BTreeMap<u32, Node<'a>>),
}

fn insert<'a>(node: &mut Node<'a>, rest: &'a [PathElem]) {
    let Some((first, tail)) = rest.split_first() else {
        *node = Node::Whole;
        return;
    };
    match (node, first) {
        (Node::Whole, _) => {}
        (Node::Map(children), PathElem::Name(n)) => {
            let child = children
                .entry(n.name.as_str())
                .or_insert_with(|| empty_for(tail));
            insert(child, tail);
        }
        (Node::List(children), PathElem::Index(i)) => {
            let child = children.entry(*i).or_insert_with(|| empty_for(tail));
            insert(child, tail);
        }
        // Conflicting paths (rejected at parse time): keep the first shape.
        _ => {}
    }
}

/// A fresh node shaped for the next step of `rest`.
fn empty_for(rest: &[PathElem]) -> Node<'_> {
    match rest.first() {
        None => Node::Whole,
        Some(PathElem::Name(_)) => Node::Map(BTreeMap::new()),
        Some(PathElem::Index(_)) => Node::List(BTreeMap::new()),
    }
}

fn project_value(v: &AttributeValue, node: &Node<'_>) -> Option<AttributeValue> {
    match (node, v) {
        (Node::Whole, _) => Some(v.clone()),
        (Node::Map(children), AttributeValue::M(m)) => {
            let mut out = Item::new();
            for (k, child) in children {
                if let Some(x) = m.get(*k).and_then(|x| project_value(x, child)) {
                    out.insert((*k).to_string(), x);
                }
            }
            (!out.is_empty()).then_some(AttributeValue::M(out))
        }
        (Node::List(children), AttributeValue::L(l)) => {
            let out: Vec<AttributeValue> = children
                .iter()
                .filter_map(|(i, child)| l.get(*i as usize).and_then(|x| project_value(x, child)))
                .collect();
            (!out.is_empty()).then_some(AttributeValue::L(out))
        }
        _ => None,
    }
}

/// The parts of `item` named by `paths`, with nested structure preserved.
pub fn project_paths(item: &Item, paths: &[Path]) -> Item {
    let mut top: BTreeMap<&str, Node<'_>> = BTreeMap::new();
    for p in paths {
        let Some((PathElem::Name(n), tail)) = p.0.split_first() else {
            continue;
        };
        let node = top
            .entry(n.name.as_str())
            .or_insert_with(|| empty_for(tail));
        insert(node, tail);
    }
    let mut out = Item::new();
    for (name, node) in &top {
        if let Some(v) = item.get(*name).and_then(|v| project_value(v, node)) {
            out.insert((*name).to_string(), v);
        }
    }
    out
}

/// Applies a ProjectionExpression (or AttributesToGet) to an item.
pub fn project(projection: &Projection, item: &Item) -> Item {
    project_paths(item, &projection.paths)
}

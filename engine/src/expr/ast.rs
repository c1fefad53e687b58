//! The expression AST shared by every expression kind (and by the legacy parameters, which are
//! converted into it).
//!
//! Names and values are resolved at parse time (a [`Name`] holds the attribute name, a [`Value`]
//! the attribute value) but keep the placeholder they were written with, so `Display` prints an
//! expression that re-parses, with the same `ExpressionAttributeNames`/`Values`, to an equal AST.

use std::fmt;

use crate::model::AttributeValue;

/// One attribute name in a document path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name {
    /// The attribute name itself.
    pub name: String,
    /// The `#placeholder` it was written as, if any.
    pub alias: Option<String>,
}

impl Name {
    /// A name written directly (no placeholder).
    pub fn plain(name: impl Into<String>) -> Name {
        Name {
            name: name.into(),
            alias: None,
        }
    }
}

/// One step of a document path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathElem {
    /// `.name` (or the leading name).
    Name(Name),
    /// `[index]`
    Index(u32),
}

/// A document path such as `a.b[3].#c`. Never empty; the first element is always a `Name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path(pub Vec<PathElem>);

impl Path {
    /// A one-element path naming a top-level attribute.
    pub fn attr(name: impl Into<String>) -> Path {
        Path(vec![PathElem::Name(Name::plain(name))])
    }

    /// The top-level attribute the path starts at.
    pub fn head(&self) -> &str {
        match self.0.first() {
            Some(PathElem::Name(n)) => &n.name,
            _ => "",
        }
    }

    /// Whether the path is a single top-level attribute.
    pub fn is_top_level(&self) -> bool {
        self.0.len() == 1
    }

    /// DynamoDB's rendering in error messages: `[a, b, [3]]`.
    pub fn error_text(&self) -> String {
        let mut s = String::from("[");
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            match e {
                PathElem::Name(n) => s.push_str(&n.name),
                PathElem::Index(ix) => {
                    s.push('[');
                    s.push_str(&ix.to_string());
                    s.push(']');
                }
            }
        }
        s.push(']');
        s
    }
}

/// An `ExpressionAttributeValues` reference, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Value {
    /// The `:placeholder` it was written as.
    pub placeholder: String,
    pub value: AttributeValue,
}

/// An operand of a condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Operand {
    Path(Path),
    Value(Value),
    /// `size(operand)`
    Size(Box<Operand>),
}

/// A comparator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The comparator with its operands swapped (`a < b` ⇔ `b > a`).
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        }
    }
}

/// A ConditionExpression / FilterExpression / KeyConditionExpression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Condition {
    Compare(CmpOp, Operand, Operand),
    /// `value BETWEEN low AND high`
    Between(Operand, Operand, Operand),
    /// `value IN (list…)`
    In(Operand, Vec<Operand>),
    Exists(Path),
    NotExists(Path),
    /// `attribute_type(operand, type)`
    AttributeType(Operand, Operand),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
    /// Two or more conditions, all true.
    And(Vec<Condition>),
    /// Two or more conditions, any true.
    Or(Vec<Condition>),
    Not(Box<Condition>),
}

/// An operand on the right-hand side of an update `SET`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UpdateOperand {
    Path(Path),
    Value(Value),
    IfNotExists(Path, Box<UpdateOperand>),
    ListAppend(Box<UpdateOperand>, Box<UpdateOperand>),
}

/// The right-hand side of `SET path = …`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SetValue {
    Operand(UpdateOperand),
    Plus(UpdateOperand, UpdateOperand),
    Minus(UpdateOperand, UpdateOperand),
}

/// A parsed UpdateExpression (or converted AttributeUpdates).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct UpdateExpr {
    pub set: Vec<(Path, SetValue)>,
    pub remove: Vec<Path>,
    pub add: Vec<(Path, Value)>,
    pub delete: Vec<(Path, Value)>,
    /// Converted from legacy AttributeUpdates: runtime errors use the legacy messages and `ADD`
    /// of a list appends.
    pub legacy: bool,
}

/// A parsed ProjectionExpression (or AttributesToGet).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Projection {
    pub paths: Vec<Path>,
}

// ---- Display ----

fn write_name(f: &mut fmt::Formatter<'_>, n: &Name) -> fmt::Result {
    match &n.alias {
        Some(a) => f.write_str(a),
        None => f.write_str(&n.name),
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            match e {
                PathElem::Name(n) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    write_name(f, n)?;
                }
                PathElem::Index(ix) => write!(f, "[{ix}]")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.placeholder)
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Path(p) => p.fmt(f),
            Operand::Value(v) => v.fmt(f),
            Operand::Size(o) => write!(f, "size({o})"),
        }
    }
}

impl Condition {
    /// Binding strength for printing: leaves 3, NOT 2, AND 1, OR 0.
    fn rank(&self) -> u8 {
        match self {
            Condition::Or(_) => 0,
            Condition::And(_) => 1,
            Condition::Not(_) => 2,
            _ => 3,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Compare(op, a, b) => write!(f, "{a} {} {b}", op.symbol()),
            Condition::Between(v, lo, hi) => write!(f, "{v} BETWEEN {lo} AND {hi}"),
            Condition::In(v, list) => {
                write!(f, "{v} IN (")?;
                for (i, o) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    o.fmt(f)?;
                }
                f.write_str(")")
            }
            Condition::Exists(p) => write!(f, "attribute_exists({p})"),
            Condition::NotExists(p) => write!(f, "attribute_not_exists({p})"),
            Condition::AttributeType(a, b) => write!(f, "attribute_type({a}, {b})"),
            Condition::BeginsWith(a, b) => write!(f, "begins_with({a}, {b})"),
            Condition::Contains(a, b) => write!(f, "contains({a}, {b})"),
            Condition::And(cs) | Condition::Or(cs) => {
                let (word, rank) = if matches!(self, Condition::And(_)) {
                    (" AND ", 1)
                } else {
                    (" OR ", 0)
                };
                for (i, c) in cs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(word)?;
                    }
                    // A child of the same or looser binding is parenthesized so the n-ary shape
                    // survives a re-parse; tighter children print bare.
                    if c.rank() <= rank {
                        write!(f, "({c})")?;
                    } else {
                        c.fmt(f)?;
                    }
                }
                Ok(())
            }
            Condition::Not(c) => {
                if c.rank() >= 2 {
                    write!(f, "NOT {c}")
                } else {
                    write!(f, "NOT ({c})")
                }
            }
        }
    }
}

impl fmt::Display for UpdateOperand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdateOperand::Path(p) => p.fmt(f),
            UpdateOperand::Value(v) => v.fmt(f),
            UpdateOperand::IfNotExists(p, o) => write!(f, "if_not_exists({p}, {o})"),
            UpdateOperand::ListAppend(a, b) => write!(f, "list_append({a}, {b})"),
        }
    }
}

impl fmt::Display for SetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetValue::Operand(o) => o.fmt(f),
            SetValue::Plus(a, b) => write!(f, "{a} + {b}"),
            SetValue::Minus(a, b) => write!(f, "{a} - {b}"),
        }
    }
}

impl fmt::Display for UpdateExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut section = |f: &mut fmt::Formatter<'_>, word: &str| -> fmt::Result {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            f.write_str(word)
        };
        if !self.set.is_empty() {
            section(f, "SET ")?;
            for (i, (p, v)) in self.set.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{p} = {v}")?;
            }
        }
        if !self.remove.is_empty() {
            section(f, "REMOVE ")?;
            for (i, p) in self.remove.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                p.fmt(f)?;
            }
        }
        for (word, list) in [("ADD ", &self.add), ("DELETE ", &self.delete)] {
            if !list.is_empty() {
                section(f, word)?;
                for (i, (p, v)) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{p} {v}")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Projection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.paths.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            p.fmt(f)?;
        }
        Ok(())
    }
}

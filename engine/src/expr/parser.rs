//! Recursive-descent parsers for the three grammars (condition, update, projection).
//!
//! Parsing follows DynamoDB: the whole expression must be syntactically valid first (the error
//! names the token where parsing got furthest, PEG style); semantic problems found on the way are
//! kept in one slot per category (first occurrence wins) and the highest-priority category is
//! reported, in DynamoDB's order (for conditions: redundant parentheses, unknown function,
//! misused function, reserved word, then the first faulty leaf condition).

use super::ast::{
    CmpOp, Condition, Name, Operand, Path, PathElem, Projection, SetValue, UpdateExpr,
    UpdateOperand, Value,
};
use super::lexer::{lex, syntax_error_text, Tok, Token};
use super::reserved::is_reserved;
use super::{ExprError, ExprKind, Placeholders, Usage};
use crate::limits::EXPRESSION_SIZE_MAX_BYTES;
use crate::model::AttributeValue;

/// Operators and functions one expression may hold.
pub(crate) const OPERATORS_MAX: usize = 300;
/// Operands of an `IN` list.
pub(crate) const IN_OPERANDS_MAX: usize = 100;
/// Nesting depth (parentheses, NOT, function calls) the parser accepts; bounds recursion.
const NESTING_MAX: u32 = 200;

/// The ten type descriptors `attribute_type` accepts.
pub(crate) const TYPE_DESCRIPTORS: [&str; 10] =
    ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];

/// Syntax failure marker; the position is in `Parser::furthest`.
struct Fail;
type PResult<T> = Result<T, Fail>;

/// First error per category.
#[derive(Clone, Default)]
struct Errs {
    parens: Option<String>,
    unknown_fn: Option<String>,
    misused_fn: Option<String>,
    reserved: Option<String>,
    section: Option<String>,
    /// Conditions and projections share one slot for undefined names and values.
    name_val: Option<String>,
    /// Update expressions keep names and values apart.
    value: Option<String>,
    operand: Option<String>,
    distinct: Option<String>,
    function: Option<String>,
    overlap: Option<String>,
    conflict: Option<String>,
    /// The first faulty leaf condition's error.
    condition: Option<String>,
    limit: Option<String>,
}

fn set(slot: &mut Option<String>, msg: impl FnOnce() -> String) {
    if slot.is_none() {
        *slot = Some(msg());
    }
}

/// An operand before it is turned into AST: functions are kept generic until their use is
/// known (a function condition, `size`, or a misuse).
#[derive(Clone)]
enum Opnd {
    Path(Path),
    Value(Value),
    Func(String, Vec<Opnd>),
}

impl Opnd {
    fn is_path(&self) -> bool {
        matches!(self, Opnd::Path(_))
    }

    /// DynamoDB's "immediate" type: the type of a literal value operand.
    fn immediate_type(&self) -> Option<&'static str> {
        match self {
            Opnd::Value(v) => Some(v.value.type_descriptor()),
            _ => None,
        }
    }

    /// The type an operand is known to have before evaluation (values, and functions' results).
    fn static_type(&self) -> Option<&'static str> {
        match self {
            Opnd::Value(v) => Some(v.value.type_descriptor()),
            Opnd::Func(name, args) => match name.as_str() {
                "size" => Some("N"),
                "begins_with" | "attribute_type" | "contains" => Some("BOOL"),
                "if_not_exists" => args.get(1).and_then(Opnd::static_type),
                "list_append" => Some("L"),
                _ => None,
            },
            Opnd::Path(_) => None,
        }
    }
}

fn placeholder_path() -> Path {
    Path(vec![PathElem::Name(Name::plain(""))])
}

struct Parser<'s, 'p> {
    src: &'s str,
    toks: Vec<Token>,
    pos: usize,
    furthest: usize,
    depth: u32,
    ph: &'p Placeholders<'p>,
    usage: &'p mut Usage,
    errs: Errs,
    kind: ExprKind,
    operators: usize,
}

impl<'s, 'p> Parser<'s, 'p> {
    fn new(kind: ExprKind, src: &'s str, ph: &'p Placeholders<'p>, usage: &'p mut Usage) -> Self {
        Parser {
            src,
            toks: lex(src),
            pos: 0,
            furthest: 0,
            depth: 0,
            ph,
            usage,
            errs: Errs::default(),
            kind,
            operators: 0,
        }
    }

    fn peek(&self) -> Tok {
        self.toks.get(self.pos).map_or(Tok::Eof, |t| t.tok)
    }

    fn peek_at(&self, ahead: usize) -> Tok {
        self.toks.get(self.pos + ahead).map_or(Tok::Eof, |t| t.tok)
    }

    fn text(&self, i: usize) -> &'s str {
        match self.toks.get(i) {
            Some(t) => self.src.get(t.start..t.end).unwrap_or(""),
            None => "",
        }
    }

    fn fail<T>(&mut self) -> PResult<T> {
        if self.pos > self.furthest {
            self.furthest = self.pos;
        }
        Err(Fail)
    }

    fn expect(&mut self, tok: Tok) -> PResult<()> {
        if self.peek() == tok {
            self.pos += 1;
            Ok(())
        } else {
            self.fail()
        }
    }

    /// Whether the current token is the keyword `kw` (case-insensitive).
    fn at_kw(&self, kw: &str) -> bool {
        self.peek() == Tok::Word && self.text(self.pos).eq_ignore_ascii_case(kw)
    }

    fn is_keyword(&self, word: &str) -> bool {
        let kws: &[&str] = match self.kind {
            ExprKind::Update => &["SET", "REMOVE", "ADD", "DELETE"],
            ExprKind::Projection => &[],
            _ => &["BETWEEN", "IN", "AND", "OR", "NOT"],
        };
        kws.iter().any(|k| word.eq_ignore_ascii_case(k))
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > NESTING_MAX {
            return self.fail();
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn syntax_error(&self) -> ExprError {
        ExprError::invalid(
            self.kind,
            syntax_error_text(self.src, &self.toks, self.furthest),
        )
    }

    // ---- names, values, paths ----

    fn resolve_name(&mut self, alias: &str) -> Name {
        let found = self.ph.names.and_then(|m| m.get(alias));
        match found {
            Some(name) => {
                if !self.usage.names.contains(alias) {
                    self.usage.names.insert(alias.to_string());
                }
                Name {
                    name: name.clone(),
                    alias: Some(alias.to_string()),
                }
            }
            None => {
                let msg = || {
                    format!(
                        "An expression attribute name used in the document path is not defined; \
                         attribute name: {alias}"
                    )
                };
                set(&mut self.errs.name_val, msg);
                Name {
                    name: String::new(),
                    alias: Some(alias.to_string()),
                }
            }
        }
    }

    fn resolve_value(&mut self, placeholder: &str) -> Value {
        let found = self.ph.values.and_then(|m| m.get(placeholder));
        match found {
            Some(v) => {
                if !self.usage.values.contains(placeholder) {
                    self.usage.values.insert(placeholder.to_string());
                }
                Value {
                    placeholder: placeholder.to_string(),
                    value: v.clone(),
                }
            }
            None => {
                let msg = || {
                    format!(
                        "An expression attribute value used in expression is not defined; \
                         attribute value: {placeholder}"
                    )
                };
                // Conditions and projections share a slot with names; updates keep their own.
                if self.kind == ExprKind::Update {
                    set(&mut self.errs.value, msg);
                } else {
                    set(&mut self.errs.name_val, msg);
                }
                Value {
                    placeholder: placeholder.to_string(),
                    value: AttributeValue::Null,
                }
            }
        }
    }

    /// One path element name: a word (checked against the reserved words) or a `#name`.
    /// `letter_start`: condition paths must start with a letter, not `_`.
    fn path_name(&mut self, letter_start: bool) -> PResult<Name> {
        match self.peek() {
            Tok::Name => {
                let alias = self.text(self.pos);
                self.pos += 1;
                Ok(self.resolve_name(alias))
            }
            Tok::Word => {
                let word = self.text(self.pos);
                if self.is_keyword(word) || (letter_start && word.starts_with('_')) {
                    return self.fail();
                }
                self.pos += 1;
                if is_reserved(word) {
                    set(&mut self.errs.reserved, || {
                        format!("Attribute name is a reserved keyword; reserved keyword: {word}")
                    });
                }
                Ok(Name::plain(word))
            }
            _ => self.fail(),
        }
    }

    /// `.name` and `[n]` steps after a path head.
    fn path_tail(&mut self, path: &mut Path, letter_start: bool) -> PResult<()> {
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.pos += 1;
                    let n = self.path_name(letter_start)?;
                    path.0.push(PathElem::Name(n));
                }
                Tok::LBracket => {
                    self.pos += 1;
                    if self.peek() != Tok::Number {
                        return self.fail();
                    }
                    let Ok(ix) = self.text(self.pos).parse::<u32>() else {
                        return self.fail();
                    };
                    self.pos += 1;
                    self.expect(Tok::RBracket)?;
                    path.0.push(PathElem::Index(ix));
                }
                _ => return Ok(()),
            }
        }
    }

    fn path(&mut self, letter_start: bool) -> PResult<Path> {
        let head = self.path_name(letter_start)?;
        let mut path = Path(vec![PathElem::Name(head)]);
        self.path_tail(&mut path, letter_start)?;
        Ok(path)
    }

    // ---- condition grammar ----

    fn or_cond(&mut self) -> PResult<(Condition, bool)> {
        let (first, paren) = self.and_cond()?;
        if !self.at_kw("OR") {
            return Ok((first, paren));
        }
        let mut list = vec![first];
        while self.at_kw("OR") {
            self.pos += 1;
            self.operators += 1;
            let (c, _) = self.and_cond()?;
            list.push(c);
        }
        Ok((Condition::Or(list), false))
    }

    fn and_cond(&mut self) -> PResult<(Condition, bool)> {
        let (first, paren) = self.not_cond()?;
        if !self.at_kw("AND") {
            return Ok((first, paren));
        }
        let mut list = vec![first];
        while self.at_kw("AND") {
            self.pos += 1;
            self.operators += 1;
            let (c, _) = self.not_cond()?;
            list.push(c);
        }
        Ok((Condition::And(list), false))
    }

    fn not_cond(&mut self) -> PResult<(Condition, bool)> {
        if self.at_kw("NOT") {
            self.pos += 1;
            self.operators += 1;
            self.enter()?;
            let (c, _) = self.not_cond()?;
            self.leave();
            return Ok((Condition::Not(Box::new(c)), false));
        }
        self.primary_cond()
    }

    /// A leaf condition, or `( condition )`. The flag says the result was a parenthesized
    /// condition (so a second pair around it is redundant).
    fn primary_cond(&mut self) -> PResult<(Condition, bool)> {
        if self.peek() != Tok::LParen {
            return Ok((self.leaf_cond()?, false));
        }
        self.enter()?;
        let saved_pos = self.pos;
        let saved_errs = self.errs.clone();
        let saved_ops = self.operators;
        if let Ok(c) = self.leaf_cond() {
            self.leave();
            return Ok((c, false));
        }
        self.pos = saved_pos;
        self.errs = saved_errs;
        self.operators = saved_ops;
        self.expect(Tok::LParen)?;
        let (inner, inner_paren) = self.or_cond()?;
        self.expect(Tok::RParen)?;
        if inner_paren {
            set(&mut self.errs.parens, || {
                "The expression has redundant parentheses;".to_string()
            });
        }
        self.leave();
        Ok((inner, true))
    }

    /// `operand comparator operand`, `operand BETWEEN operand AND operand`,
    /// `operand IN (operands)`, or a function condition.
    fn leaf_cond(&mut self) -> PResult<Condition> {
        let (x, x_wrapped) = self.operand_parens()?;
        let cmp = match self.peek() {
            Tok::Eq => Some(CmpOp::Eq),
            Tok::Ne => Some(CmpOp::Ne),
            Tok::Lt => Some(CmpOp::Lt),
            Tok::Le => Some(CmpOp::Le),
            Tok::Gt => Some(CmpOp::Gt),
            Tok::Ge => Some(CmpOp::Ge),
            _ => None,
        };
        let cond = if let Some(op) = cmp {
            self.pos += 1;
            let (y, _) = self.operand_parens()?;
            self.operators += 1;
            self.check_misused(&[&x, &y]);
            self.check_distinct(op.symbol(), &x, &y);
            Condition::Compare(op, self.make_operand(x), self.make_operand(y))
        } else if self.at_kw("BETWEEN") {
            self.pos += 1;
            let (lo, _) = self.operand_parens()?;
            if !self.at_kw("AND") {
                return self.fail();
            }
            self.pos += 1;
            let (hi, _) = self.operand_parens()?;
            self.operators += 1;
            self.check_misused(&[&x, &lo, &hi]);
            self.check_between(&x, &lo, &hi);
            Condition::Between(
                self.make_operand(x),
                self.make_operand(lo),
                self.make_operand(hi),
            )
        } else if self.at_kw("IN") {
            self.pos += 1;
            self.expect(Tok::LParen)?;
            let args = self.operand_list()?;
            self.expect(Tok::RParen)?;
            self.operators += 1;
            let mut all: Vec<&Opnd> = vec![&x];
            all.extend(args.iter());
            self.check_misused(&all);
            if args.len() > IN_OPERANDS_MAX {
                let n = args.len();
                set(&mut self.errs.limit, || {
                    format!(
                        "The IN operator is provided with too many operands; number of operands: {n}"
                    )
                });
            }
            let list = args.into_iter().map(|a| self.make_operand(a)).collect();
            Condition::In(self.make_operand(x), list)
        } else {
            match x {
                Opnd::Func(name, args) if !x_wrapped => self.function_cond(name, args),
                _ => return self.fail(),
            }
        };
        self.check_condition_errors();
        Ok(cond)
    }

    /// `( ( operand ) )` (redundant), `( operand )` or `operand`; a parenthesized path may be
    /// continued (`(a.b).c`). The flag says the operand ended up wrapped in parentheses.
    fn operand_parens(&mut self) -> PResult<(Opnd, bool)> {
        if self.peek() != Tok::LParen {
            return Ok((self.operand()?, false));
        }
        self.enter()?;
        self.pos += 1;
        let (inner, inner_wrapped) = self.operand_parens()?;
        self.expect(Tok::RParen)?;
        if inner_wrapped {
            set(&mut self.errs.parens, || {
                "The expression has redundant parentheses;".to_string()
            });
        }
        self.leave();
        match inner {
            Opnd::Path(mut p) if matches!(self.peek(), Tok::Dot | Tok::LBracket) => {
                self.path_tail(&mut p, true)?;
                Ok((Opnd::Path(p), false))
            }
            other => Ok((other, true)),
        }
    }

    fn operand_list(&mut self) -> PResult<Vec<Opnd>> {
        let mut args = vec![self.operand_parens()?.0];
        while self.peek() == Tok::Comma {
            self.pos += 1;
            args.push(self.operand_parens()?.0);
        }
        Ok(args)
    }

    fn operand(&mut self) -> PResult<Opnd> {
        match self.peek() {
            Tok::Value => {
                let ph = self.text(self.pos);
                self.pos += 1;
                Ok(Opnd::Value(self.resolve_value(ph)))
            }
            Tok::Word if self.peek_at(1) == Tok::LParen => {
                let name = self.text(self.pos);
                if self.is_keyword(name) {
                    return self.fail();
                }
                self.pos += 2;
                self.enter()?;
                let args = self.operand_list()?;
                self.expect(Tok::RParen)?;
                self.leave();
                self.operators += 1;
                self.check_misused(&args.iter().collect::<Vec<_>>());
                self.check_function(name, &args);
                Ok(Opnd::Func(name.to_string(), args))
            }
            Tok::Word | Tok::Name => Ok(Opnd::Path(self.path(true)?)),
            _ => self.fail(),
        }
    }

    fn check_function(&mut self, name: &str, args: &[Opnd]) {
        if self.errs.unknown_fn.is_some() {
            return;
        }
        let arity = match name {
            "attribute_exists" | "attribute_not_exists" | "size" => 1,
            "attribute_type" | "begins_with" | "contains" => 2,
            _ => {
                set(&mut self.errs.unknown_fn, || {
                    format!("Invalid function name; function: {name}")
                });
                return;
            }
        };
        if self.errs.operand.is_some() {
            return;
        }
        if args.len() != arity {
            let n = args.len();
            set(&mut self.errs.operand, || {
                format!(
                    "Incorrect number of operands for operator or function; operator or \
                     function: {name}, number of operands: {n}"
                )
            });
            return;
        }
        if args.len() == 2 {
            self.check_distinct(name, &args[0], &args[1]);
        }
        if self.errs.function.is_some() {
            return;
        }
        let bad_type = |t: &str| {
            format!(
                "Incorrect operand type for operator or function; operator or function: {name}, \
                 operand type: {t}"
            )
        };
        match name {
            "attribute_exists" | "attribute_not_exists" if !args[0].is_path() => {
                self.errs.function = Some(format!(
                    "Operator or function requires a document path; operator or function: \
                     {name}"
                ));
            }
            "begins_with" => {
                for a in args {
                    if let Some(t) = a.static_type() {
                        if t != "S" && t != "B" {
                            self.errs.function = Some(bad_type(t));
                            return;
                        }
                    }
                }
            }
            "attribute_type" => match args[1].static_type() {
                Some("S") => {
                    if let Opnd::Value(v) = &args[1] {
                        if let AttributeValue::S(s) = &v.value {
                            if !TYPE_DESCRIPTORS.contains(&s.as_str()) {
                                self.errs.function = Some(format!(
                                    "Invalid attribute type name found; type: {s}, valid types: \
                                     {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}"
                                ));
                            }
                        }
                    }
                }
                Some(t) => self.errs.function = Some(bad_type(t)),
                None => self.errs.function = Some(bad_type("{NS,SS,L,BS,N,M,B,BOOL,NULL,S}")),
            },
            "size" => {
                if let Some(t @ ("N" | "BOOL" | "NULL")) = args[0].static_type() {
                    self.errs.function = Some(bad_type(t));
                }
            }
            _ => {}
        }
    }

    /// A function other than `size` used as an operand.
    fn check_misused(&mut self, args: &[&Opnd]) {
        if self.errs.misused_fn.is_some() {
            return;
        }
        for a in args {
            if let Opnd::Func(name, _) = a {
                if name != "size" {
                    let name = name.clone();
                    self.errs.misused_fn = Some(format!(
                        "The function is not allowed to be used this way in an expression; \
                         function: {name}"
                    ));
                    return;
                }
            }
        }
    }

    fn check_distinct(&mut self, op: &str, a: &Opnd, b: &Opnd) {
        if self.errs.distinct.is_some() {
            return;
        }
        if let (Opnd::Path(p), Opnd::Path(q)) = (a, b) {
            if paths_same(p, q) {
                self.errs.distinct = Some(format!(
                    "The first operand must be distinct from the remaining operands for this \
                     operator or function; operator: {op}, first operand: {}",
                    p.error_text()
                ));
            }
        }
    }

    fn check_between(&mut self, x: &Opnd, lo: &Opnd, hi: &Opnd) {
        if self.errs.function.is_some() {
            return;
        }
        // BETWEEN orders strings, numbers and binaries only; a value of another type is
        // refused by its type before the bounds are compared.
        for o in [x, lo, hi] {
            if let Some(t) = o
                .immediate_type()
                .filter(|t| !matches!(*t, "S" | "N" | "B"))
            {
                self.errs.function = Some(format!(
                    "Incorrect operand type for operator or function; operator or function: \
                     BETWEEN, operand type: {t}"
                ));
                return;
            }
        }
        let (Opnd::Value(l), Opnd::Value(h)) = (lo, hi) else {
            return;
        };
        let (tl, th) = (l.value.type_descriptor(), h.value.type_descriptor());
        if tl != th {
            self.errs.function = Some(format!(
                "The BETWEEN operator requires same data type for lower and upper bounds; lower \
                 bound operand: AttributeValue: {}, upper bound operand: AttributeValue: {}",
                value_text(&l.value),
                value_text(&h.value)
            ));
        } else if super::eval::compare_values(&l.value, &h.value)
            == Some(std::cmp::Ordering::Greater)
        {
            self.errs.function = Some(format!(
                "The BETWEEN operator requires upper bound to be greater than or equal to lower \
                 bound; lower bound operand: AttributeValue: {}, upper bound operand: \
                 AttributeValue: {}",
                value_text(&l.value),
                value_text(&h.value)
            ));
        }
    }

    /// At the end of each leaf condition, the first of its errors (by category) becomes the
    /// condition error.
    fn check_condition_errors(&mut self) {
        if self.errs.condition.is_some() {
            return;
        }
        let e = &self.errs;
        let first = e
            .name_val
            .as_ref()
            .or(e.operand.as_ref())
            .or(e.distinct.as_ref())
            .or(e.function.as_ref())
            .cloned();
        self.errs.condition = first;
    }

    fn make_operand(&mut self, o: Opnd) -> Operand {
        match o {
            Opnd::Path(p) => Operand::Path(p),
            Opnd::Value(v) => Operand::Value(v),
            Opnd::Func(name, mut args) if name == "size" && args.len() == 1 => {
                let arg = args.pop().map_or_else(
                    || Operand::Path(placeholder_path()),
                    |a| self.make_operand(a),
                );
                Operand::Size(Box::new(arg))
            }
            // Misused or malformed: an error has been recorded; keep a placeholder.
            Opnd::Func(..) => Operand::Path(placeholder_path()),
        }
    }

    fn function_cond(&mut self, name: String, args: Vec<Opnd>) -> Condition {
        if name == "size" {
            set(&mut self.errs.misused_fn, || {
                "The function is not allowed to be used this way in an expression; function: size"
                    .to_string()
            });
        }
        let mut it = args.into_iter();
        let (a, b) = (it.next(), it.next());
        let placeholder = || Condition::Exists(placeholder_path());
        match (name.as_str(), a, b) {
            ("attribute_exists", Some(Opnd::Path(p)), None) => Condition::Exists(p),
            ("attribute_not_exists", Some(Opnd::Path(p)), None) => Condition::NotExists(p),
            ("attribute_type", Some(a), Some(b)) => {
                Condition::AttributeType(self.make_operand(a), self.make_operand(b))
            }
            ("begins_with", Some(a), Some(b)) => {
                Condition::BeginsWith(self.make_operand(a), self.make_operand(b))
            }
            ("contains", Some(a), Some(b)) => {
                Condition::Contains(self.make_operand(a), self.make_operand(b))
            }
            _ => placeholder(),
        }
    }

    fn condition_error(&self) -> Option<String> {
        let e = &self.errs;
        e.parens
            .clone()
            .or_else(|| e.unknown_fn.clone())
            .or_else(|| e.misused_fn.clone())
            .or_else(|| e.reserved.clone())
            .or_else(|| e.condition.clone())
            .or_else(|| e.name_val.clone())
            .or_else(|| e.operand.clone())
            .or_else(|| e.distinct.clone())
            .or_else(|| e.function.clone())
            .or_else(|| e.limit.clone())
    }

    // ---- update grammar ----

    fn update_expr(&mut self) -> PResult<UpdateExpr> {
        let mut out = UpdateExpr::default();
        let mut seen = [false; 4];
        let mut paths: Vec<Path> = Vec::new();
        loop {
            let section = ["SET", "REMOVE", "ADD", "DELETE"]
                .iter()
                .position(|k| self.at_kw(k));
            let Some(section) = section else {
                if paths.is_empty() || self.peek() != Tok::Eof {
                    return self.fail();
                }
                break;
            };
            self.pos += 1;
            let mut first = true;
            while first || self.peek() == Tok::Comma {
                if !first {
                    self.pos += 1;
                }
                first = false;
                let path = self.path(false)?;
                paths.push(path.clone());
                self.operators += 1;
                match section {
                    0 => {
                        self.expect(Tok::Eq)?;
                        let v = self.set_value()?;
                        out.set.push((path, v));
                    }
                    1 => out.remove.push(path),
                    _ => {
                        if self.peek() != Tok::Value {
                            return self.fail();
                        }
                        let ph = self.text(self.pos);
                        self.pos += 1;
                        let v = self.resolve_value(ph);
                        let op = if section == 2 { "ADD" } else { "DELETE" };
                        if self.ph.values.is_some_and(|m| m.contains_key(ph)) {
                            self.check_add_delete_operand(op, &v.value);
                        }
                        if section == 2 {
                            out.add.push((path, v));
                        } else {
                            out.delete.push((path, v));
                        }
                    }
                }
            }
            if seen[section] {
                let word = ["SET", "REMOVE", "ADD", "DELETE"][section];
                set(&mut self.errs.section, || {
                    format!("The \"{word}\" section can only be used once in an update expression;")
                });
            }
            seen[section] = true;
        }
        self.check_paths(&paths);
        Ok(out)
    }

    fn check_add_delete_operand(&mut self, op: &str, v: &AttributeValue) {
        if self.errs.operand.is_some() {
            return;
        }
        let name = match v {
            AttributeValue::S(_) => "STRING",
            AttributeValue::N(_) if op == "DELETE" => "NUMBER",
            AttributeValue::B(_) => "BINARY",
            AttributeValue::Null => "NULL",
            AttributeValue::Bool(_) => "BOOLEAN",
            AttributeValue::L(_) => "LIST",
            AttributeValue::M(_) => "MAP",
            _ => return,
        };
        self.errs.operand = Some(format!(
            "Incorrect operand type for operator or function; operator: {op}, operand type: {name}"
        ));
    }

    /// `( value )` or `value`, where value is `operand [(+|-) operand]`.
    fn set_value(&mut self) -> PResult<SetValue> {
        if self.peek() == Tok::LParen {
            let saved_pos = self.pos;
            let saved_errs = self.errs.clone();
            let saved_ops = self.operators;
            self.enter()?;
            self.pos += 1;
            let wrapped = self.set_value_inner().and_then(|v| {
                self.expect(Tok::RParen)?;
                Ok(v)
            });
            self.leave();
            if let Ok(v) = wrapped {
                if matches!(self.peek(), Tok::Comma | Tok::Eof) || self.at_section_kw() {
                    return Ok(v);
                }
            }
            self.pos = saved_pos;
            self.errs = saved_errs;
            self.operators = saved_ops;
        }
        self.set_value_inner()
    }

    fn at_section_kw(&self) -> bool {
        ["SET", "REMOVE", "ADD", "DELETE"]
            .iter()
            .any(|k| self.at_kw(k))
    }

    fn set_value_inner(&mut self) -> PResult<SetValue> {
        let a = self.update_operand_parens()?;
        let op = self.peek();
        if op != Tok::Plus && op != Tok::Minus {
            return Ok(SetValue::Operand(self.make_update_operand(a)));
        }
        self.pos += 1;
        let b = self.update_operand_parens()?;
        self.operators += 1;
        let sym = if op == Tok::Plus { "+" } else { "-" };
        self.check_update_function(sym, &[&a, &b]);
        let (a, b) = (self.make_update_operand(a), self.make_update_operand(b));
        Ok(if op == Tok::Plus {
            SetValue::Plus(a, b)
        } else {
            SetValue::Minus(a, b)
        })
    }

    fn update_operand_parens(&mut self) -> PResult<Opnd> {
        if self.peek() == Tok::LParen {
            self.enter()?;
            self.pos += 1;
            let o = self.update_operand_parens()?;
            self.expect(Tok::RParen)?;
            self.leave();
            return Ok(o);
        }
        match self.peek() {
            Tok::Value => {
                let ph = self.text(self.pos);
                self.pos += 1;
                Ok(Opnd::Value(self.resolve_value(ph)))
            }
            Tok::Word if self.peek_at(1) == Tok::LParen => {
                let name = self.text(self.pos);
                if self.is_keyword(name) {
                    return self.fail();
                }
                self.pos += 2;
                self.enter()?;
                let mut args = vec![self.update_operand_parens()?];
                while self.peek() == Tok::Comma {
                    self.pos += 1;
                    args.push(self.update_operand_parens()?);
                }
                self.expect(Tok::RParen)?;
                self.leave();
                self.operators += 1;
                self.check_update_function(name, &args.iter().collect::<Vec<_>>());
                Ok(Opnd::Func(name.to_string(), args))
            }
            Tok::Word | Tok::Name => Ok(Opnd::Path(self.path(false)?)),
            _ => self.fail(),
        }
    }

    fn check_update_function(&mut self, name: &str, args: &[&Opnd]) {
        if self.errs.unknown_fn.is_some() {
            return;
        }
        if !matches!(name, "if_not_exists" | "list_append" | "+" | "-") {
            set(&mut self.errs.unknown_fn, || {
                format!("Invalid function name; function: {name}")
            });
            return;
        }
        if self.errs.function.is_some() {
            return;
        }
        if args.len() != 2 {
            self.errs.function = Some(format!(
                "Incorrect number of operands for operator or function; operator or function: \
                 {name}, number of operands: {}",
                args.len()
            ));
            return;
        }
        let want = match name {
            "if_not_exists" => {
                if !args[0].is_path() {
                    self.errs.function = Some(format!(
                        "Operator or function requires a document path; operator or function: \
                         {name}"
                    ));
                }
                return;
            }
            "list_append" => "L",
            _ => "N",
        };
        for a in args {
            if let Some(t) = a.immediate_type() {
                if t != want {
                    self.errs.function = Some(format!(
                        "Incorrect operand type for operator or function; operator or function: \
                         {name}, operand type: {t}"
                    ));
                    return;
                }
            }
        }
    }

    fn make_update_operand(&mut self, o: Opnd) -> UpdateOperand {
        match o {
            Opnd::Path(p) => UpdateOperand::Path(p),
            Opnd::Value(v) => UpdateOperand::Value(v),
            Opnd::Func(name, args) => {
                let mut it = args.into_iter();
                match (name.as_str(), it.next(), it.next(), it.next()) {
                    ("if_not_exists", Some(Opnd::Path(p)), Some(b), None) => {
                        UpdateOperand::IfNotExists(p, Box::new(self.make_update_operand(b)))
                    }
                    ("list_append", Some(a), Some(b), None) => UpdateOperand::ListAppend(
                        Box::new(self.make_update_operand(a)),
                        Box::new(self.make_update_operand(b)),
                    ),
                    // An error has been recorded.
                    _ => UpdateOperand::Path(placeholder_path()),
                }
            }
        }
    }

    fn update_error(&self) -> Option<String> {
        let e = &self.errs;
        e.reserved
            .clone()
            .or_else(|| e.unknown_fn.clone())
            .or_else(|| e.section.clone())
            .or_else(|| e.name_val.clone())
            .or_else(|| e.value.clone())
            .or_else(|| e.overlap.clone())
            .or_else(|| e.conflict.clone())
            .or_else(|| e.operand.clone())
            .or_else(|| e.function.clone())
            .or_else(|| e.limit.clone())
    }

    // ---- projection grammar ----

    fn projection(&mut self) -> PResult<Projection> {
        let mut paths = vec![self.path(false)?];
        while self.peek() == Tok::Comma {
            self.pos += 1;
            paths.push(self.path(false)?);
        }
        if self.peek() != Tok::Eof {
            return self.fail();
        }
        self.check_paths(&paths);
        Ok(Projection { paths })
    }

    fn projection_error(&self) -> Option<String> {
        let e = &self.errs;
        e.reserved
            .clone()
            .or_else(|| e.name_val.clone())
            .or_else(|| e.overlap.clone())
            .or_else(|| e.conflict.clone())
    }

    /// DynamoDB's overlap/conflict rule between the paths of one update or projection: a path
    /// that is a prefix of another overlaps it; paths that differ at the same depth only in kind
    /// (name vs index) conflict.
    fn check_paths(&mut self, paths: &[Path]) {
        for (j, later) in paths.iter().enumerate() {
            for earlier in &paths[..j] {
                match relate(earlier, later) {
                    PathRelation::Overlap => {
                        set(&mut self.errs.overlap, || {
                            format!(
                                "Two document paths overlap with each other; must remove or \
                                 rewrite one of these paths; path one: {}, path two: {}",
                                earlier.error_text(),
                                later.error_text()
                            )
                        });
                        return;
                    }
                    PathRelation::Conflict => set(&mut self.errs.conflict, || {
                        format!(
                            "Two document paths conflict with each other; must remove or rewrite \
                             one of these paths; path one: {}, path two: {}",
                            earlier.error_text(),
                            later.error_text()
                        )
                    }),
                    PathRelation::Disjoint => {}
                }
            }
        }
    }
}

enum PathRelation {
    Disjoint,
    Overlap,
    Conflict,
}

fn relate(a: &Path, b: &Path) -> PathRelation {
    for (x, y) in a.0.iter().zip(b.0.iter()) {
        match (x, y) {
            (PathElem::Name(p), PathElem::Name(q)) => {
                if p.name != q.name {
                    return PathRelation::Disjoint;
                }
            }
            (PathElem::Index(i), PathElem::Index(j)) => {
                if i != j {
                    return PathRelation::Disjoint;
                }
            }
            _ => return PathRelation::Conflict,
        }
    }
    PathRelation::Overlap
}

/// Two paths naming the same document location (placeholders resolved).
pub(crate) fn paths_same(a: &Path, b: &Path) -> bool {
    a.0.len() == b.0.len()
        && a.0.iter().zip(b.0.iter()).all(|(x, y)| match (x, y) {
            (PathElem::Name(p), PathElem::Name(q)) => p.name == q.name,
            (PathElem::Index(i), PathElem::Index(j)) => i == j,
            _ => false,
        })
}

/// `{S:a}`-style rendering of a value in BETWEEN error messages.
pub(crate) fn value_text(v: &AttributeValue) -> String {
    let inner = match v {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => n.to_string(),
        AttributeValue::Bool(b) => b.to_string(),
        AttributeValue::Null => "true".to_string(),
        other => {
            let json = other.to_json();
            match json.get(other.type_descriptor()) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(inner) => inner.to_string(),
                None => json.to_string(),
            }
        }
    };
    format!("{{{}:{}}}", v.type_descriptor(), inner)
}

fn precheck(kind: ExprKind, src: &str) -> Result<(), ExprError> {
    if src.is_empty() {
        return Err(ExprError::invalid(kind, "The expression can not be empty;"));
    }
    if src.len() > EXPRESSION_SIZE_MAX_BYTES {
        return Err(ExprError::invalid(
            kind,
            format!(
                "Expression size has exceeded the maximum allowed size; expression size: {}",
                src.len()
            ),
        ));
    }
    Ok(())
}

fn operators_error(kind: ExprKind, count: usize) -> Option<ExprError> {
    (count > OPERATORS_MAX).then(|| {
        ExprError::invalid(
            kind,
            format!("The expression contains too many operators; operator count: {count}"),
        )
    })
}

/// Parses a ConditionExpression, FilterExpression or KeyConditionExpression (`kind` names it in
/// messages). Placeholders it uses are added to `usage`.
pub fn parse_condition(
    kind: ExprKind,
    src: &str,
    placeholders: &Placeholders<'_>,
    usage: &mut Usage,
) -> Result<Condition, ExprError> {
    precheck(kind, src)?;
    let mut p = Parser::new(kind, src, placeholders, usage);
    let parsed = p.or_cond();
    let cond = match parsed {
        Ok((c, _)) if p.peek() == Tok::Eof => c,
        _ => {
            let _ = p.fail::<()>();
            return Err(p.syntax_error());
        }
    };
    if let Some(msg) = p.condition_error() {
        return Err(ExprError::invalid(kind, msg));
    }
    if let Some(e) = operators_error(kind, p.operators) {
        return Err(e);
    }
    Ok(cond)
}

/// Parses an UpdateExpression.
pub fn parse_update(
    src: &str,
    placeholders: &Placeholders<'_>,
    usage: &mut Usage,
) -> Result<UpdateExpr, ExprError> {
    let kind = ExprKind::Update;
    precheck(kind, src)?;
    let mut p = Parser::new(kind, src, placeholders, usage);
    let parsed = p.update_expr();
    let Ok(update) = parsed else {
        return Err(p.syntax_error());
    };
    if let Some(msg) = p.update_error() {
        return Err(ExprError::invalid(kind, msg));
    }
    if let Some(e) = operators_error(kind, p.operators) {
        return Err(e);
    }
    Ok(update)
}

/// Parses a ProjectionExpression.
pub fn parse_projection(
    src: &str,
    placeholders: &Placeholders<'_>,
    usage: &mut Usage,
) -> Result<Projection, ExprError> {
    let kind = ExprKind::Projection;
    precheck(kind, src)?;
    let mut p = Parser::new(kind, src, placeholders, usage);
    let parsed = p.projection();
    let Ok(proj) = parsed else {
        return Err(p.syntax_error());
    };
    if let Some(msg) = p.projection_error() {
        return Err(ExprError::invalid(kind, msg));
    }
    Ok(proj)
}

#![allow(clippy::unwrap_used)]
//! Tests of the expression module: DynamoDB's error messages one by one, evaluation and update
//! semantics, key-condition analysis, the legacy parameters, and property tests (print/re-parse
//! round trip, no panics on random input).

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::model::{AttributeValue as AV, Item, Number};

fn s(v: &str) -> AV {
    AV::S(v.to_string())
}

fn n(v: i64) -> AV {
    AV::N(Number::from_i64(v))
}

fn ns(v: &[i64]) -> AV {
    AV::NS(v.iter().map(|i| Number::from_i64(*i)).collect())
}

fn ss(v: &[&str]) -> AV {
    AV::SS(v.iter().map(|x| x.to_string()).collect())
}

fn names(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn values(pairs: &[(&str, AV)]) -> BTreeMap<String, AV> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn item(pairs: &[(&str, AV)]) -> Item {
    values(pairs)
}

struct Ctx {
    names: BTreeMap<String, String>,
    values: BTreeMap<String, AV>,
}

impl Ctx {
    fn new(n: &[(&str, &str)], v: &[(&str, AV)]) -> Ctx {
        Ctx {
            names: names(n),
            values: values(v),
        }
    }

    fn ph(&self) -> Placeholders<'_> {
        Placeholders {
            names: (!self.names.is_empty()).then_some(&self.names),
            values: (!self.values.is_empty()).then_some(&self.values),
        }
    }

    fn cond(&self, kind: ExprKind, src: &str) -> Result<Condition, ExprError> {
        parse_condition(kind, src, &self.ph(), &mut Usage::default())
    }

    fn update(&self, src: &str) -> Result<UpdateExpr, ExprError> {
        parse_update(src, &self.ph(), &mut Usage::default())
    }

    fn projection(&self, src: &str) -> Result<Projection, ExprError> {
        parse_projection(src, &self.ph(), &mut Usage::default())
    }
}

fn std_ctx() -> Ctx {
    Ctx::new(
        &[
            ("#a", "a"),
            ("#b", "b"),
            ("#c", "c"),
            ("#d", "[3]"),
            ("#1", "1"),
        ],
        &[
            (":s", s("str")),
            (":n", n(5)),
            (":one", n(1)),
            (":ss", ss(&["x", "y"])),
            (":ns", ns(&[1, 2])),
            (":l", AV::L(vec![s("e")])),
            (":m", AV::M(Item::new())),
            (":b", AV::B(vec![1, 2])),
            (":t", s("S")),
            (":bool", AV::Bool(true)),
            (":null", AV::Null),
        ],
    )
}

fn filter_err(src: &str) -> String {
    match std_ctx().cond(ExprKind::Filter, src) {
        Ok(c) => panic!("expected an error for {src:?}, parsed {c:?}"),
        Err(e) => e.message,
    }
}

fn update_err(src: &str) -> String {
    match std_ctx().update(src) {
        Ok(u) => panic!("expected an error for {src:?}, parsed {u:?}"),
        Err(e) => e.message,
    }
}

fn filter(src: &str) -> Condition {
    match std_ctx().cond(ExprKind::Filter, src) {
        Ok(c) => c,
        Err(e) => panic!("{src:?}: {}", e.message),
    }
}

fn check(src: &str, it: &Item) -> bool {
    eval_condition(&filter(src), Some(it)).expect("eval")
}

// ---------------------------------------------------------------- parse errors: conditions

#[test]
fn empty_expression_is_rejected() {
    assert_eq!(
        std_ctx().cond(ExprKind::Condition, "").unwrap_err().message,
        "Invalid ConditionExpression: The expression can not be empty;"
    );
    assert_eq!(
        std_ctx().update("").unwrap_err().message,
        "Invalid UpdateExpression: The expression can not be empty;"
    );
    assert_eq!(
        std_ctx().projection("").unwrap_err().message,
        "Invalid ProjectionExpression: The expression can not be empty;"
    );
}

#[test]
fn oversized_expression_is_rejected_with_its_size() {
    let src = format!("a = :s{}", " ".repeat(5000));
    assert_eq!(
        std_ctx().cond(ExprKind::Filter, &src).unwrap_err().message,
        format!(
            "Invalid FilterExpression: Expression size has exceeded the maximum allowed size; \
             expression size: {}",
            src.len()
        )
    );
}

#[test]
fn syntax_errors_name_the_token_and_its_neighbours() {
    assert_eq!(
        filter_err("a > 4"),
        "Invalid FilterExpression: Syntax error; token: \"4\", near: \"> 4\""
    );
    assert_eq!(
        update_err("ADD hits : incr"),
        "Invalid UpdateExpression: Syntax error; token: \":\", near: \"hits : incr\""
    );
    assert_eq!(
        update_err("INVALID SYNTAX HERE"),
        "Invalid UpdateExpression: Syntax error; token: \"INVALID\", near: \"INVALID SYNTAX\""
    );
    assert_eq!(
        std_ctx()
            .cond(ExprKind::KeyCondition, "[object Object]")
            .unwrap_err()
            .message,
        "Invalid KeyConditionExpression: Syntax error; token: \"[\", near: \"[object\""
    );
    assert_eq!(
        filter_err("a = "),
        "Invalid FilterExpression: Syntax error; token: \"<EOF>\", near: \"= \""
    );
}

#[test]
fn malformed_conditions_are_syntax_errors() {
    for src in [
        "things are not gonna be ok",
        "a > 4",
        "attribute_exists(Pictures-RearView)",
        "attribute_exists(\"Pictures.RearView\")",
        "attribute_exists(Pictures..RearView)",
        "attribute_exists(Pi#ctures.RearView)",
        "attribute_exists(asdf[a])",
        "a in b, c",
        "a > between",
        "a in b",
        "a in (b,c,)",
        "(a)between(b.(c.d))and(c)",
        "(a)between(b.c.d)and((c)",
        "#$.b > a",
        "a > :s.stuff",
        "b[:s] > a",
        "b[#a] > a",
        "ü > a",
        "(a)between(b.c[4.5].#d)and(:s)",
        "size(a).b > a",
        "(size(a)).b > a",
        "size(a)[0] > a",
        "(size(a))[0] > a",
        "_a > b",
        "a = b c",
        "NOT NOT",
    ] {
        let msg = filter_err(src);
        assert!(
            msg.starts_with("Invalid FilterExpression: Syntax error; token: "),
            "{src}: {msg}"
        );
    }
}

#[test]
fn redundant_parentheses_are_rejected() {
    for src in [
        "a=a and a > ((views))",
        "(a)between(((b.c)).d)and(c)",
        "a > whatever((:s), ((a)))",
        "a=a AND ((a=a AND a=a)) AND a=a",
        "a=a OR ((a=a OR a=a)) OR a=a",
        "a=a AND ((a=a AND (a=a AND a=a)))",
        "((a = :s))",
        "((#a = :s)) AND ((#b = :s))",
    ] {
        assert_eq!(
            filter_err(src),
            "Invalid FilterExpression: The expression has redundant parentheses;",
            "{src}"
        );
    }
}

#[test]
fn single_parentheses_are_accepted() {
    for src in [
        "(a = :s)",
        "(a = :s) AND (b = :s)",
        "(attribute_not_exists(a) AND (attribute_not_exists(#b)))",
        "(a)between(:one)and(:n)",
        "(a.b).c = :s",
        "NOT (a = :s OR b = :s)",
        "NOT NOT a = :s",
    ] {
        filter(src);
    }
    assert_eq!(filter("(a.b).c = :s"), filter("a.b.c = :s"));
}

#[test]
fn unknown_functions_are_named() {
    assert_eq!(
        filter_err("a=a and whatever((:s)) > a"),
        "Invalid FilterExpression: Invalid function name; function: whatever"
    );
    assert_eq!(
        filter_err("attRIbute_exIsts((views), #a)"),
        "Invalid FilterExpression: Invalid function name; function: attRIbute_exIsts"
    );
}

#[test]
fn misused_functions_are_rejected() {
    for (src, f) in [
        (
            "a=a and attribute_exists((views), (#a)) > b",
            "attribute_exists",
        ),
        ("attribute_not_exists(things) > b", "attribute_not_exists"),
        ("attribute_type(things, :s) > b", "attribute_type"),
        ("begins_with(things, a) > b", "begins_with"),
        ("contains(:s, c) > b", "contains"),
        ("size(contains(a, b)) > a", "contains"),
        ("size(things)", "size"),
        (
            "a between b and attribute_exists(things)",
            "attribute_exists",
        ),
        ("a in (b, attribute_exists(things))", "attribute_exists"),
    ] {
        assert_eq!(
            filter_err(src),
            format!(
                "Invalid FilterExpression: The function is not allowed to be used this way in an \
                 expression; function: {f}"
            ),
            "{src}"
        );
    }
}

#[test]
fn reserved_words_need_placeholders() {
    assert_eq!(
        filter_err("attribute_exists(views, #a)"),
        "Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: views"
    );
    assert_eq!(
        filter_err(":s < abOrT"),
        "Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: abOrT"
    );
    assert_eq!(
        std_ctx()
            .cond(ExprKind::Condition, "a.status = :s")
            .unwrap_err()
            .message,
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: \
         status"
    );
}

#[test]
fn undefined_placeholders_are_named() {
    for (src, name) in [
        (
            "attribute_exists(#Pictures.RearView, :s) and a=a",
            "#Pictures",
        ),
        ("begins_with(Pictures.#RearView)", "#RearView"),
        ("#4g > a", "#4g"),
        ("#_ > a", "#_"),
        ("(a)between(b.c[45].#e)and(:s)", "#e"),
    ] {
        assert_eq!(
            filter_err(src),
            format!(
                "Invalid FilterExpression: An expression attribute name used in the document \
                 path is not defined; attribute name: {name}"
            ),
            "{src}"
        );
    }
    for (src, v) in [
        ("begins_with(:hello, #a, #b)", ":hello"),
        (":x < :y", ":x"),
        (":_ > a", ":_"),
    ] {
        assert_eq!(
            filter_err(src),
            format!(
                "Invalid FilterExpression: An expression attribute value used in expression is \
                 not defined; attribute value: {v}"
            ),
            "{src}"
        );
    }
}

#[test]
fn function_operand_counts_are_checked() {
    for (src, f, count) in [
        ("attribute_exists(things, a) and a=a", "attribute_exists", 2),
        ("attribute_not_exists(things, b)", "attribute_not_exists", 2),
        ("attribute_type(things)", "attribute_type", 1),
        ("begins_with(things)", "begins_with", 1),
        ("begins_with(things, size(a), b)", "begins_with", 3),
        ("contains(things)", "contains", 1),
        ("size(things, a) > b", "size", 2),
    ] {
        assert_eq!(
            filter_err(src),
            format!(
                "Invalid FilterExpression: Incorrect number of operands for operator or \
                 function; operator or function: {f}, number of operands: {count}"
            ),
            "{src}"
        );
    }
}

#[test]
fn function_operand_types_are_checked() {
    for (src, f, t) in [
        ("attribute_type(a, size(a)) and a=a", "attribute_type", "N"),
        ("attribute_type(a, :n)", "attribute_type", "N"),
        ("attribute_type(a, :bool)", "attribute_type", "BOOL"),
        ("attribute_type(a, :ss)", "attribute_type", "SS"),
        (
            "attribute_type(a, b)",
            "attribute_type",
            "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}",
        ),
        ("begins_with(a, size(a))", "begins_with", "N"),
        ("begins_with(a, :n)", "begins_with", "N"),
        ("begins_with(:l, a)", "begins_with", "L"),
        ("begins_with(a, :m)", "begins_with", "M"),
        ("size(size(a)) > :n", "size", "N"),
        ("size(:bool) > a", "size", "BOOL"),
        ("size(:null) > a", "size", "NULL"),
    ] {
        assert_eq!(
            filter_err(src),
            format!(
                "Invalid FilterExpression: Incorrect operand type for operator or function; \
                 operator or function: {f}, operand type: {t}"
            ),
            "{src}"
        );
    }
}

#[test]
fn attribute_type_requires_a_known_descriptor() {
    let ctx = Ctx::new(&[], &[(":a", s("1"))]);
    assert_eq!(
        ctx.cond(ExprKind::Filter, "attribute_type(a, :a)")
            .unwrap_err()
            .message,
        "Invalid FilterExpression: Invalid attribute type name found; type: 1, valid types: \
         {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
    );
}

#[test]
fn exists_functions_require_a_path() {
    assert_eq!(
        filter_err("attribute_exists(:s) and a=a"),
        "Invalid FilterExpression: Operator or function requires a document path; operator or \
         function: attribute_exists"
    );
}

#[test]
fn operands_must_be_distinct() {
    for (src, op, path) in [
        ("a = a AND #a = b AND :s > a", "=", "[a]"),
        ("#a <> a", "<>", "[a]"),
        ("a > #a", ">", "[a]"),
        ("((a=a) OR (a=a))", "=", "[a]"),
        (
            "contains(ab.bc[1].a, ab.bc[1].#a)",
            "contains",
            "[ab, bc, [1], a]",
        ),
        (
            "begins_with(ab.bc[1].a, ab.bc[1].#a)",
            "begins_with",
            "[ab, bc, [1], a]",
        ),
    ] {
        assert_eq!(
            filter_err(src),
            format!(
                "Invalid FilterExpression: The first operand must be distinct from the remaining \
                 operands for this operator or function; operator: {op}, first operand: {path}"
            ),
            "{src}"
        );
    }
    filter(":s = :s");
}

#[test]
fn between_bounds_are_checked() {
    let ctx = Ctx::new(&[], &[(":a", s("a")), (":b", n(1)), (":c", s("b"))]);
    assert_eq!(
        ctx.cond(ExprKind::KeyCondition, "a between :b and :a")
            .unwrap_err()
            .message,
        "Invalid KeyConditionExpression: The BETWEEN operator requires same data type for lower \
         and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: \
         AttributeValue: {S:a}"
    );
    assert_eq!(
        ctx.cond(ExprKind::KeyCondition, "a between :c and :a")
            .unwrap_err()
            .message,
        "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater \
         than or equal to lower bound; lower bound operand: AttributeValue: {S:b}, upper bound \
         operand: AttributeValue: {S:a}"
    );
    // Only strings, numbers and binaries have an order: another type is refused by its type
    // first, whichever operand it is.
    let ctx = Ctx::new(
        &[],
        &[(":nul", AV::Null), (":one", n(1)), (":t", AV::Bool(true))],
    );
    for (src, t) in [
        ("price between :nul and :one", "NULL"),
        ("price between :one and :nul", "NULL"),
        ("price between :nul and :nul", "NULL"),
        (":t between :one and :one", "BOOL"),
    ] {
        assert_eq!(
            ctx.cond(ExprKind::Filter, src).unwrap_err().message,
            format!(
                "Invalid FilterExpression: Incorrect operand type for operator or function; \
                 operator or function: BETWEEN, operand type: {t}"
            ),
            "{src}"
        );
    }
}

#[test]
fn in_lists_are_limited_to_100_operands() {
    let vals: Vec<(String, AV)> = (0..101).map(|i| (format!(":v{i}"), n(i))).collect();
    let map: BTreeMap<String, AV> = vals.iter().cloned().collect();
    let list: Vec<&str> = vals.iter().map(|(k, _)| k.as_str()).collect();
    let src = format!("a IN ({})", list.join(","));
    let ph = Placeholders {
        names: None,
        values: Some(&map),
    };
    let err = parse_condition(ExprKind::Filter, &src, &ph, &mut Usage::default()).unwrap_err();
    assert_eq!(
        err.message,
        "Invalid FilterExpression: The IN operator is provided with too many operands; number of \
         operands: 101"
    );
    let src = format!("a IN ({})", list[..100].join(","));
    parse_condition(ExprKind::Filter, &src, &ph, &mut Usage::default()).expect("100 operands");
}

#[test]
fn conditions_are_limited_to_300_operators() {
    let src = vec!["a = :s"; 151].join(" AND ");
    assert_eq!(
        filter_err(&src),
        "Invalid FilterExpression: The expression contains too many operators; operator count: 301"
    );
}

#[test]
fn deep_nesting_is_a_syntax_error_not_a_stack_overflow() {
    let src = format!("{}a = :s{}", "(".repeat(1000), ")".repeat(1000));
    assert!(filter_err(&src).contains("Syntax error"));
    let src = format!("{}a = :s", "NOT ".repeat(1000));
    assert!(filter_err(&src).contains("Syntax error"));
}

// ---------------------------------------------------------------- parse errors: update

#[test]
fn malformed_updates_are_syntax_errors() {
    for src in [
        "whatever",
        "set a",
        "add a",
        "delete a",
        "set a=set",
        "remove a = b",
        "add a = b",
        "delete a = b",
        "delete a b",
        "delete a if_not_exist(b)",
        "add abort b",
        "remove a b",
        "set a b",
        "set :s = b",
        "add :s b",
        "remove :s",
        "set a = b / c",
        "set a = b * c",
        "set a[1] = \"eight\"",
        "set a[1] = 1",
        "SET if_not_exist(a, b) = a",
        "set (a = (b + c))",
        "set a = (b.c).d + e",
        "set a = b + c + d",
        "SET a = :s,",
        "SET",
    ] {
        let msg = update_err(src);
        assert!(
            msg.starts_with("Invalid UpdateExpression: Syntax error; token: "),
            "{src}: {msg}"
        );
    }
}

#[test]
fn update_sections_may_appear_once() {
    for (src, sec) in [
        ("set a = #c set c = :s", "SET"),
        ("remove #d set a = b remove e", "REMOVE"),
        ("add #d :n set a = b add e :n", "ADD"),
        ("delete #d :ss set a = b delete #b :ss", "DELETE"),
    ] {
        assert_eq!(
            update_err(src),
            format!(
                "Invalid UpdateExpression: The \"{sec}\" section can only be used once in an \
                 update expression;"
            ),
            "{src}"
        );
    }
}

#[test]
fn update_reserved_words_and_unknown_functions() {
    assert_eq!(
        update_err(" set #c = :s set abOrt = :s "),
        "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: abOrt"
    );
    assert_eq!(
        update_err(" remove Absolute "),
        "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: \
         Absolute"
    );
    assert_eq!(
        update_err("set #c = if_not_exist(:s) set c = d"),
        "Invalid UpdateExpression: Invalid function name; function: if_not_exist"
    );
    assert_eq!(
        update_err("set a = size(b)"),
        "Invalid UpdateExpression: Invalid function name; function: size"
    );
}

#[test]
fn update_paths_must_not_overlap() {
    for (src, one, two) in [
        (
            "set d[1] = a, d.b = a, c[1].a = a, #c = if_not_exists(a, :s)",
            "[c, [1], a]",
            "[c]",
        ),
        ("set c.b.#c = a, c = a, #d = a", "[c, b, c]", "[c]"),
        ("set a = b remove a, #c, #d", "[a]", "[a]"),
        ("set #c[3].#d = a, #c[3] = a", "[c, [3], [3]]", "[c, [3]]"),
        ("remove c, #c.a, #d", "[c]", "[c, a]"),
        ("remove a, #c, a, #d", "[a]", "[a]"),
    ] {
        assert_eq!(
            update_err(src),
            format!(
                "Invalid UpdateExpression: Two document paths overlap with each other; must \
                 remove or rewrite one of these paths; path one: {one}, path two: {two}"
            ),
            "{src}"
        );
    }
}

#[test]
fn update_paths_must_not_conflict() {
    for (src, one, two) in [
        (
            "set #c[3].#d = a, #c.#d[3] = if_not_exists(a, :s)",
            "[c, [3], [3]]",
            "[c, [3], [3]]",
        ),
        ("remove a.#c set a[1] = #d", "[a, c]", "[a, [1]]"),
    ] {
        assert_eq!(
            update_err(src),
            format!(
                "Invalid UpdateExpression: Two document paths conflict with each other; must \
                 remove or rewrite one of these paths; path one: {one}, path two: {two}"
            ),
            "{src}"
        );
    }
}

#[test]
fn add_and_delete_operand_types_are_checked() {
    for (src, op, t) in [
        ("add a.b :s", "ADD", "STRING"),
        ("delete a.b :s", "DELETE", "STRING"),
        ("add a.b :null", "ADD", "NULL"),
        ("add a.b :bool", "ADD", "BOOLEAN"),
        ("delete a.b :b", "DELETE", "BINARY"),
        ("add a.b :m", "ADD", "MAP"),
        ("add a.b :l", "ADD", "LIST"),
        ("delete a.b :n", "DELETE", "NUMBER"),
    ] {
        assert_eq!(
            update_err(src),
            format!(
                "Invalid UpdateExpression: Incorrect operand type for operator or function; \
                 operator: {op}, operand type: {t}"
            ),
            "{src}"
        );
    }
}

#[test]
fn update_function_operands_are_checked() {
    for (src, f, t) in [
        ("set a = list_append(:s, a)", "list_append", "S"),
        ("set a = list_append(a, :n)", "list_append", "N"),
        ("set a = list_append(:ss, a)", "list_append", "SS"),
        ("set a = a + :s", "+", "S"),
        ("set a = :s + :b", "+", "S"),
        ("set a = :b - a", "-", "B"),
        ("set a = a - :l", "-", "L"),
        ("set a = a + :m", "+", "M"),
    ] {
        assert_eq!(
            update_err(src),
            format!(
                "Invalid UpdateExpression: Incorrect operand type for operator or function; \
                 operator or function: {f}, operand type: {t}"
            ),
            "{src}"
        );
    }
    assert_eq!(
        update_err("set a = if_not_exists(c)"),
        "Invalid UpdateExpression: Incorrect number of operands for operator or function; \
         operator or function: if_not_exists, number of operands: 1"
    );
    assert_eq!(
        update_err("set a = if_not_exists(:s, c)"),
        "Invalid UpdateExpression: Operator or function requires a document path; operator or \
         function: if_not_exists"
    );
    assert_eq!(
        update_err("SET #z = :s"),
        "Invalid UpdateExpression: An expression attribute name used in the document path is \
         not defined; attribute name: #z"
    );
    assert_eq!(
        update_err("SET #a = if_not_exists(a, :zz)"),
        "Invalid UpdateExpression: An expression attribute value used in expression is not \
         defined; attribute value: :zz"
    );
}

#[test]
fn update_accepts_dynamodb_forms() {
    let u = std_ctx()
        .update("set a = (b + c), d = (e), f[2].g = if_not_exists(f[2].g, :n) - :one remove x ADD y :n DELETE z :ss")
        .expect("parses");
    assert_eq!(u.set.len(), 3);
    assert_eq!(u.remove.len(), 1);
    assert_eq!(u.add.len(), 1);
    assert_eq!(u.delete.len(), 1);
    std_ctx()
        .update("SET a = list_append(if_not_exists(a, :l), :l)")
        .expect("nested functions");
}

// ---------------------------------------------------------------- projection

#[test]
fn projection_errors() {
    let ctx = std_ctx();
    assert_eq!(
        ctx.projection("a, b.c, a.d").unwrap_err().message,
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove \
         or rewrite one of these paths; path one: [a], path two: [a, d]"
    );
    assert_eq!(
        ctx.projection("a.b, a[0]").unwrap_err().message,
        "Invalid ProjectionExpression: Two document paths conflict with each other; must remove \
         or rewrite one of these paths; path one: [a, b], path two: [a, [0]]"
    );
    assert_eq!(
        ctx.projection("a, name").unwrap_err().message,
        "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: \
         name"
    );
    assert_eq!(
        ctx.projection("a, #zz").unwrap_err().message,
        "Invalid ProjectionExpression: An expression attribute name used in the document path \
         is not defined; attribute name: #zz"
    );
    assert!(ctx
        .projection("a, b -c")
        .unwrap_err()
        .message
        .starts_with("Invalid ProjectionExpression: Syntax error; token: \"-\""));
}

#[test]
fn projection_keeps_nested_structure() {
    let ctx = std_ctx();
    let it = item(&[
        ("a", AV::M(item(&[("b", n(1)), ("c", n(2))]))),
        ("l", AV::L(vec![n(0), n(1), n(2), n(3)])),
        ("x", s("x")),
        ("y", s("y")),
    ]);
    let p = ctx
        .projection("l[2], a.b, l[0], x, absent1, a.zz, x2.y")
        .expect("parse");
    let out = project(&p, &it);
    assert_eq!(
        out,
        item(&[
            ("a", AV::M(item(&[("b", n(1))]))),
            ("l", AV::L(vec![n(0), n(2)])),
            ("x", s("x")),
        ])
    );
}

// ---------------------------------------------------------------- unused placeholders

#[test]
fn unused_placeholders_are_checked_across_expressions() {
    let ctx = Ctx::new(
        &[("#a", "a"), ("#b", "b")],
        &[(":a", s("a")), (":b", s("b")), (":c", s("c"))],
    );
    let ph = ctx.ph();
    let mut u1 = Usage::default();
    let mut u2 = Usage::default();
    parse_update("remove a set b = :a", &ph, &mut u1).expect("update");
    parse_condition(ExprKind::Condition, "#a = :b", &ph, &mut u2).expect("condition");
    assert_eq!(
        check_unused(&ph, &[&u1, &u2]).unwrap_err().message,
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"
    );
    let mut u3 = Usage::default();
    parse_condition(ExprKind::Condition, "#b = :b", &ph, &mut u3).expect("condition");
    assert_eq!(
        check_unused(&ph, &[&u1, &u2, &u3]).unwrap_err().message,
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:c}"
    );
}

#[test]
fn placeholder_maps_are_validated() {
    let empty_names = BTreeMap::new();
    let ph = Placeholders {
        names: Some(&empty_names),
        values: None,
    };
    assert_eq!(
        validate_placeholder_maps(&ph).unwrap_err().message,
        "ExpressionAttributeNames must not be empty"
    );
    let bad = names(&[("a", "a")]);
    let ph = Placeholders {
        names: Some(&bad),
        values: None,
    };
    assert_eq!(
        validate_placeholder_maps(&ph).unwrap_err().message,
        "ExpressionAttributeNames contains invalid key: Syntax error; key: \"a\""
    );
    let bad = values(&[(":b", s("a")), ("b", s("a"))]);
    let ph = Placeholders {
        names: None,
        values: Some(&bad),
    };
    assert_eq!(
        validate_placeholder_maps(&ph).unwrap_err().message,
        "ExpressionAttributeValues contains invalid key: Syntax error; key: \"b\""
    );
}

// ---------------------------------------------------------------- evaluation

fn sample() -> Item {
    item(&[
        ("a", s("str")),
        ("num", n(5)),
        ("bin", AV::B(vec![1, 2, 3])),
        ("tags", ss(&["y", "x"])),
        ("nums", ns(&[2, 1])),
        ("lst", AV::L(vec![s("e"), n(7)])),
        (
            "mp",
            AV::M(item(&[("inr", AV::M(item(&[("deep", n(9))])))])),
        ),
        ("flag", AV::Bool(true)),
        ("nothing", AV::Null),
    ])
}

#[test]
fn comparisons_follow_dynamodb_types() {
    let it = sample();
    assert!(check("a = :s", &it));
    assert!(check("num = :n", &it));
    assert!(check("num >= :n AND num <= :n AND num > :one", &it));
    assert!(!check("num = :s", &it), "different types are not equal");
    assert!(!check("num < :s", &it), "different types do not order");
    assert!(check("num <> :s", &it));
    assert!(check("tags = :ss", &it), "sets compare as sets");
    assert!(check("nums = :ns", &it));
    assert!(!check("absent1 = :s", &it));
    assert!(check("absent1 <> :s", &it));
    assert!(!check("absent1 < :s", &it));
    assert!(check("mp.inr.deep > :n", &it));
    assert!(check("lst[1] > :n", &it));
    assert!(!check("lst[5] > :n", &it));
    assert!(!check("a[0] = :s", &it), "index into a string is absent1");
    assert!(check("flag = :bool", &it));
    assert!(check("nothing = :null", &it));
}

#[test]
fn between_and_in() {
    let it = sample();
    assert!(check("num BETWEEN :one AND :n", &it));
    assert!(!check("num BETWEEN :one AND :one", &it));
    assert!(!check("a BETWEEN :one AND :n", &it));
    assert!(check("num IN (:s, :n)", &it));
    assert!(!check("num IN (:s, :one)", &it));
    assert!(!check("absent1 IN (:s, :n)", &it));
}

#[test]
fn functions_evaluate() {
    let it = sample();
    assert!(check("attribute_exists(mp.inr)", &it));
    assert!(!check("attribute_exists(mp.outr)", &it));
    assert!(check("attribute_not_exists(zzz)", &it));
    assert!(check("attribute_type(a, :t)", &it));
    assert!(!check("attribute_type(num, :t)", &it));
    assert!(check("begins_with(a, :s)", &it));
    let ctx = Ctx::new(
        &[],
        &[
            (":p", s("st")),
            (":q", s("tr")),
            (":x", s("x")),
            (":e", s("e")),
            (":b", AV::B(vec![2, 3])),
            (":seven", n(7)),
            (":two", n(2)),
            (":three", n(3)),
        ],
    );
    let c = |src: &str| {
        eval_condition(&ctx.cond(ExprKind::Filter, src).expect(src), Some(&it)).expect("eval")
    };
    assert!(c("begins_with(a, :p)"));
    assert!(!c("begins_with(a, :q)"));
    assert!(!c("begins_with(num, :p)"));
    assert!(c("contains(a, :q)"));
    assert!(c("contains(tags, :x)"));
    assert!(!c("contains(tags, :e)"));
    assert!(c("contains(lst, :e)"));
    assert!(c("contains(lst, :seven)"));
    assert!(c("contains(bin, :b)"));
    assert!(c("contains(nums, :two)"));
    assert!(c("size(a) = :three"));
    assert!(c("size(tags) = :two"));
    assert!(c("size(lst) = :two"));
    assert!(!c("size(num) = :two"), "size of a number is undefined");
    assert!(c("size(mp) < :two"));
}

#[test]
fn logic_operators_and_missing_items() {
    let it = sample();
    assert!(check("a = :s AND (num = :s OR num = :n)", &it));
    assert!(check("NOT a = :n", &it));
    assert!(!check("NOT (a = :s OR num = :s)", &it));
    let c = filter("attribute_not_exists(a) AND NOT attribute_exists(b)");
    assert!(eval_condition(&c, None).expect("eval"));
    let c = filter("a <> :s");
    assert!(eval_condition(&c, None).expect("eval"));
}

#[test]
fn precedence_is_not_and_or() {
    // a OR b AND c == a OR (b AND c)
    let c = filter("a = :s OR a = :n AND a = :one");
    assert!(matches!(&c, Condition::Or(v) if v.len() == 2 && matches!(v[1], Condition::And(_))));
    let c = filter("NOT a = :s AND a = :n");
    assert!(matches!(&c, Condition::And(v) if matches!(v[0], Condition::Not(_))));
}

// ---------------------------------------------------------------- update application

fn apply(src: &str, it: &mut Item) -> Result<UpdateOutcome, ExprError> {
    let u = std_ctx()
        .update(src)
        .unwrap_or_else(|e| panic!("{src}: {}", e.message));
    apply_update(&u, it)
}

#[test]
fn set_writes_nested_paths_and_appends_past_the_end() {
    let mut it = sample();
    apply(
        "SET mp.inr.nw = :s, lst[1] = :s, lst[10] = :n, top = :one",
        &mut it,
    )
    .expect("ok");
    assert_eq!(resolve_path(&it, &Path::attr("top")), Some(&n(1)));
    assert_eq!(it.get("lst"), Some(&AV::L(vec![s("e"), s("str"), n(5)])));
    let AV::M(m) = &it["mp"] else { panic!() };
    let AV::M(inner) = &m["inr"] else { panic!() };
    assert_eq!(inner.get("nw"), Some(&s("str")));
}

#[test]
fn indexes_past_the_end_append_in_index_order_whatever_the_text_order() {
    // DynamoDB: `SET c[4] = :x, c[2] = :y` on [1, 3] gives [1, 3, y, x]; applied in text
    // order, y landed on x and x was lost.
    for src in [
        "SET lst[4] = :n, lst[2] = :s",
        "SET lst[2] = :s, lst[4] = :n",
    ] {
        let mut it = item(&[("lst", AV::L(vec![n(1), n(3)]))]);
        apply(src, &mut it).expect("ok");
        assert_eq!(it["lst"], AV::L(vec![n(1), n(3), s("str"), n(5)]), "{src}");
    }
}

#[test]
fn sets_and_adds_past_the_end_append_together_in_index_order() {
    // DynamoDB (dynalite's recorded "should update nested attributes"): the appends of SET and
    // ADD interleave by index, and the touched paths are the ones written, not where the
    // elements landed.
    let mut it = item(&[("lst", AV::L(vec![n(1), n(3)]))]);
    let out = apply(
        "SET lst[4] = :n, lst[2] = :s ADD lst[8] :one, lst[6] :n",
        &mut it,
    )
    .expect("ok");
    assert_eq!(
        it["lst"],
        AV::L(vec![n(1), n(3), s("str"), n(5), n(5), n(1)])
    );
    let shown: Vec<String> = out.paths.iter().map(|p| p.to_string()).collect();
    assert_eq!(shown, ["lst[2]", "lst[4]", "lst[6]", "lst[8]"]);
}

#[test]
fn set_values_see_the_item_before_the_update() {
    let mut it = item(&[("a", n(1)), ("b", n(2))]);
    apply("SET a = b, b = a", &mut it).expect("swap");
    assert_eq!(it, item(&[("a", n(2)), ("b", n(1))]));
}

#[test]
fn arithmetic_and_functions() {
    let mut it = item(&[("c", n(10)), ("l", AV::L(vec![n(1)]))]);
    apply(
        "SET c = c + :n, d = if_not_exists(d, :one) - :n, e = if_not_exists(c, :one), l = list_append(l, :l)",
        &mut it,
    )
    .expect("ok");
    assert_eq!(it["c"], n(15));
    assert_eq!(it["d"], n(-4));
    assert_eq!(it["e"], n(10));
    assert_eq!(it["l"], AV::L(vec![n(1), s("e")]));
}

#[test]
fn update_runtime_errors() {
    let mut it = item(&[
        ("s", s("x")),
        ("m", AV::M(Item::new())),
        ("l", AV::L(vec![])),
    ]);
    let before = it.clone();
    assert_eq!(
        apply("SET c = b", &mut it).unwrap_err().message,
        "The provided expression refers to an attribute that does not exist in the item"
    );
    assert_eq!(
        apply("SET c = s + :n", &mut it).unwrap_err().message,
        "An operand in the update expression has an incorrect data type"
    );
    assert_eq!(
        apply("SET c = list_append(s, :l)", &mut it)
            .unwrap_err()
            .message,
        "An operand in the update expression has an incorrect data type"
    );
    assert_eq!(
        apply("ADD s :n", &mut it).unwrap_err().message,
        "An operand in the update expression has an incorrect data type"
    );
    assert_eq!(
        apply("DELETE s :ss", &mut it).unwrap_err().message,
        "An operand in the update expression has an incorrect data type"
    );
    for src in [
        "SET y.a = :s",
        "SET y[1] = :s",
        "SET s.a = :s",
        "SET m[1] = :s",
        "SET l.#1 = :s",
        "REMOVE y.a",
        "REMOVE s[1]",
        "REMOVE m[1]",
        "ADD y.a :n",
        "DELETE y.a :ss",
        "DELETE l.#1 :ss",
    ] {
        assert_eq!(
            apply(src, &mut it).unwrap_err().message,
            "The document path provided in the update expression is invalid for update",
            "{src}"
        );
    }
    // A failing update leaves the item untouched, even after earlier actions succeeded.
    assert!(apply("SET ok = :s, m.x = :s, y.z = :s", &mut it).is_err());
    assert_eq!(it, before);
}

#[test]
fn add_and_delete_on_numbers_and_sets() {
    let mut it = item(&[("c", n(1)), ("t", ss(&["a"]))]);
    let out = apply("ADD c :n, t :ss, fresh :ns, newnum :one", &mut it).expect("ok");
    assert_eq!(it["c"], n(6));
    assert_eq!(it["t"], ss(&["a", "x", "y"]));
    assert_eq!(it["fresh"], ns(&[1, 2]));
    assert_eq!(it["newnum"], n(1));
    assert_eq!(
        out.top_level_names().into_iter().collect::<Vec<_>>(),
        vec!["c", "fresh", "newnum", "t"]
    );
    apply("DELETE t :ss", &mut it).expect("ok");
    assert_eq!(it["t"], ss(&["a"]));
    let ctx = Ctx::new(&[], &[(":a", ss(&["a", "zz"]))]);
    let u = ctx.update("DELETE t :a, gone :a").expect("parse");
    apply_update(&u, &mut it).expect("ok");
    assert!(
        !it.contains_key("t"),
        "removing the last element removes the attribute"
    );
}

#[test]
fn remove_list_elements_uses_original_indexes() {
    let mut it = item(&[
        ("l", AV::L(vec![n(0), n(1), n(2), n(3)])),
        ("m", AV::M(item(&[("k", n(1))]))),
    ]);
    apply("REMOVE l[0], l[2], l[9], m.k, m.absent, nope", &mut it).expect("ok");
    assert_eq!(it["l"], AV::L(vec![n(1), n(3)]));
    assert_eq!(it["m"], AV::M(Item::new()));
}

#[test]
fn updated_paths_project_old_and_new_values() {
    let mut it = item(&[("a", AV::M(item(&[("b", n(1)), ("c", n(2))]))), ("z", n(0))]);
    let old = it.clone();
    let out = apply("SET a.b = :n, q = :s", &mut it).expect("ok");
    assert_eq!(
        project_paths(&old, &out.paths),
        item(&[("a", AV::M(item(&[("b", n(1))])))])
    );
    assert_eq!(
        project_paths(&it, &out.paths),
        item(&[("a", AV::M(item(&[("b", n(5))]))), ("q", s("str"))])
    );
}

// ---------------------------------------------------------------- key conditions

fn kc(src: &str, vals: &[(&str, AV)], nm: &[(&str, &str)]) -> Result<KeyQuery, ExprError> {
    let ctx = Ctx::new(nm, vals);
    let c = ctx.cond(ExprKind::KeyCondition, src)?;
    analyze_key_condition(&c, "pk", Some("sk"))
}

#[test]
fn key_conditions_yield_partition_and_sort_range() {
    let v = [(":p", s("p")), (":a", s("a")), (":b", s("b"))];
    assert_eq!(
        kc("pk = :p", &v, &[]).expect("ok"),
        KeyQuery {
            partition: s("p"),
            sort: None
        }
    );
    assert_eq!(
        kc(
            "#pk = :p AND :a <= #sk",
            &v,
            &[("#pk", "pk"), ("#sk", "sk")]
        )
        .expect("ok")
        .sort,
        Some(SortCondition::Ge(s("a")))
    );
    assert_eq!(
        kc("(sk BETWEEN :a AND :b) AND (pk = :p)", &v, &[])
            .expect("ok")
            .sort,
        Some(SortCondition::Between(s("a"), s("b")))
    );
    assert_eq!(
        kc("pk = :p AND begins_with(sk, :a)", &v, &[])
            .expect("ok")
            .sort,
        Some(SortCondition::BeginsWith(s("a")))
    );
    let q = kc("pk = :p AND sk > :a", &v, &[]).expect("ok");
    assert!(q.check_types("S", Some("S")).is_ok());
    assert_eq!(
        q.check_types("N", Some("S")).unwrap_err().message,
        "One or more parameter values were invalid: Condition parameter type does not match \
         schema type"
    );
}

#[test]
fn key_condition_errors() {
    let v = [(":p", s("p")), (":a", s("a")), (":n", n(1))];
    let err = |src: &str| kc(src, &v, &[]).unwrap_err().message;
    assert_eq!(
        err("sk = :a"),
        "Query condition missed key schema element: pk"
    );
    assert_eq!(
        err("attr1 = :a"),
        "Query condition missed key schema element: pk"
    );
    // DynamoDB names the sort key when the second condition is on another attribute.
    assert_eq!(
        err("pk = :p AND status1 = :a"),
        "Query condition missed key schema element: sk"
    );
    assert_eq!(err("pk > :p"), "Query key condition not supported");
    assert_eq!(
        err("begins_with(pk, :p)"),
        "Query key condition not supported"
    );
    assert_eq!(
        err("pk = :p OR sk = :a"),
        "Invalid operator used in KeyConditionExpression: OR"
    );
    assert_eq!(
        err("NOT pk = :p"),
        "Invalid operator used in KeyConditionExpression: NOT"
    );
    assert_eq!(
        err("pk IN (:p)"),
        "Invalid operator used in KeyConditionExpression: IN"
    );
    assert_eq!(
        err("pk <> :p"),
        "Invalid operator used in KeyConditionExpression: <>"
    );
    assert_eq!(
        err("attribute_exists(pk)"),
        "Invalid operator used in KeyConditionExpression: attribute_exists"
    );
    assert_eq!(
        err("contains(pk, :p)"),
        "Invalid operator used in KeyConditionExpression: contains"
    );
    assert_eq!(
        err("pk = :p AND pk.x = :a"),
        "KeyConditionExpressions cannot have conditions on nested attributes"
    );
    assert_eq!(
        err("pk = :p AND sk > :a AND sk < :a"),
        "KeyConditionExpressions must only contain one condition per key"
    );
    assert_eq!(
        err("size(pk) > :n"),
        "KeyConditionExpressions cannot contain nested operations"
    );
    assert_eq!(
        err("pk = sk"),
        "Invalid condition in KeyConditionExpression: Multiple attribute names used in one \
         condition"
    );
    assert_eq!(
        err(":a = :p"),
        "Invalid condition in KeyConditionExpression: No key attribute specified"
    );
    assert_eq!(
        err(":a BETWEEN sk AND :p"),
        "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key \
         attribute as its first operand"
    );
    assert_eq!(
        err("begins_with(:a, sk)"),
        "Invalid condition in KeyConditionExpression: begins_with operator must have the key \
         attribute as its first operand"
    );
    assert_eq!(
        err("pk = :p AND begins_with(sk, :n)"),
        "Invalid KeyConditionExpression: Incorrect operand type for operator or function; \
         operator or function: begins_with, operand type: N"
    );
    assert_eq!(
        err("pk = :p AND sk = :a AND c = :a"),
        "Conditions can be of length 1 or 2 only"
    );
}

// ---------------------------------------------------------------- legacy parameters

#[test]
fn expected_converts_and_validates() {
    let exp = json!({
        "a": {"Value": {"S": "x"}},
        "b": {"Exists": false},
        "c": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "1"}]},
        "d": {"ComparisonOperator": "NOT_NULL"}
    });
    let c = convert_expected(&exp, ConditionalOperator::And)
        .expect("ok")
        .expect("some");
    let it = item(&[("a", s("x")), ("c", n(2)), ("d", AV::Null)]);
    assert!(eval_condition(&c, Some(&it)).expect("eval"));
    let it2 = item(&[("a", s("x")), ("b", n(1)), ("c", n(2)), ("d", AV::Null)]);
    assert!(!eval_condition(&c, Some(&it2)).expect("eval"));
    let c = convert_expected(&exp, ConditionalOperator::Or)
        .expect("ok")
        .expect("some");
    assert!(eval_condition(&c, Some(&it2)).expect("eval"));

    let err = |v: serde_json::Value| {
        convert_expected(&v, ConditionalOperator::And)
            .unwrap_err()
            .message
    };
    assert_eq!(
        err(json!({"a": {}})),
        "One or more parameter values were invalid: Value must be provided when Exists is null \
         for Attribute: a"
    );
    assert_eq!(
        err(json!({"a": {"Exists": true}})),
        "One or more parameter values were invalid: Value must be provided when Exists is true \
         for Attribute: a"
    );
    assert_eq!(
        err(json!({"a": {"Exists": false, "Value": {"S": "a"}}})),
        "One or more parameter values were invalid: Value cannot be used when Exists is false \
         for Attribute: a"
    );
    assert_eq!(
        err(json!({"a": {"ComparisonOperator": "EQ", "Exists": true}})),
        "One or more parameter values were invalid: Exists and ComparisonOperator cannot be used \
         together for Attribute: a"
    );
    assert_eq!(
        err(json!({"a": {"ComparisonOperator": "GT"}})),
        "One or more parameter values were invalid: Value or AttributeValueList must be used with \
         ComparisonOperator: GT for Attribute: a"
    );
    assert_eq!(
        err(json!({"a": {"AttributeValueList": [{"S": "a"}]}})),
        "One or more parameter values were invalid: AttributeValueList can only be used with a \
         ComparisonOperator for Attribute: a"
    );
}

#[test]
fn filters_convert_and_validate() {
    let f = json!({
        "a": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "st"}]},
        "num": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "5"}]},
        "tags": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "x"}]},
        "lst": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "zz"}]},
        "zzz": {"ComparisonOperator": "NULL"},
        "flag": {"ComparisonOperator": "NE", "AttributeValueList": [{"BOOL": false}]},
        "nums": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "3"}, {"N": "5"}]}
    });
    let c = convert_filter(&f, ConditionalOperator::And)
        .expect("ok")
        .expect("some");
    let it = sample();
    // nums is a set, never IN a scalar list: AND is false, OR is true.
    assert!(!eval_condition(&c, Some(&it)).expect("eval"));
    let c = convert_filter(&f, ConditionalOperator::Or)
        .expect("ok")
        .expect("some");
    assert!(eval_condition(&c, Some(&it)).expect("eval"));

    let err = |v: serde_json::Value| {
        convert_filter(&v, ConditionalOperator::And)
            .unwrap_err()
            .message
    };
    assert_eq!(
        err(json!({"a": {"ComparisonOperator": "EQ"}})),
        "One or more parameter values were invalid: Invalid number of argument(s) for the EQ \
         ComparisonOperator"
    );
    assert_eq!(
        err(json!({"a": {"ComparisonOperator": "LT", "AttributeValueList": [{"SS": ["a"]}]}})),
        "One or more parameter values were invalid: ComparisonOperator LT is not valid for SS \
         AttributeValue type"
    );
    assert_eq!(
        err(
            json!({"a": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"N": "1"}]}})
        ),
        "One or more parameter values were invalid: ComparisonOperator BEGINS_WITH is not valid \
         for N AttributeValue type"
    );
    assert_eq!(
        err(
            json!({"a": {"ComparisonOperator": "IN", "AttributeValueList": [{"S": "b"}, {"N": "1"}]}})
        ),
        "One or more parameter values were invalid: AttributeValues inside AttributeValueList \
         must be of same type"
    );
    assert_eq!(
        err(
            json!({"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"S": "b"}, {"S": "a"}]}})
        ),
        "The BETWEEN condition was provided a range where the lower bound is greater than the \
         upper bound"
    );
}

#[test]
fn key_conditions_convert() {
    let kc = json!({
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
        "sk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "a"}]}
    });
    let q = convert_key_conditions(&kc, "pk", Some("sk")).expect("ok");
    assert_eq!(q.partition, s("p"));
    assert_eq!(q.sort, Some(SortCondition::BeginsWith(s("a"))));
    let bad = json!({"sk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]}});
    assert_eq!(
        convert_key_conditions(&bad, "pk", Some("sk"))
            .unwrap_err()
            .message,
        "Query condition missed key schema element: pk"
    );
    let bad = json!({
        "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
        "sk": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "a"}]}
    });
    assert_eq!(
        convert_key_conditions(&bad, "pk", Some("sk"))
            .unwrap_err()
            .message,
        "Attempted conditional constraint is not an indexable operation"
    );
    let hash_only = json!({"pk": {"ComparisonOperator": "NULL"}});
    assert_eq!(
        convert_key_conditions(&hash_only, "pk", None)
            .unwrap_err()
            .message,
        "Attempted conditional constraint is not an indexable operation"
    );
}

#[test]
fn attribute_updates_convert_and_apply() {
    let upd = json!({
        "b": {"Action": "DELETE"},
        "c": {"Action": "DELETE", "Value": {"SS": ["a", "b"]}},
        "d": {"Action": "ADD", "Value": {"N": "5"}},
        "e": {"Action": "ADD", "Value": {"SS": ["a", "b"]}},
        "f": {"Action": "ADD", "Value": {"L": [{"S": "a"}]}},
        "g": {"Value": {"S": "put"}}
    });
    let u = convert_attribute_updates(&upd).expect("ok");
    let mut it = item(&[("b", n(1)), ("f", AV::L(vec![s("z")]))]);
    apply_update(&u, &mut it).expect("apply");
    assert_eq!(
        it,
        item(&[
            ("d", n(5)),
            ("e", ss(&["a", "b"])),
            ("f", AV::L(vec![s("z"), s("a")])),
            ("g", s("put")),
        ])
    );
    let mut bad = item(&[("d", ss(&["x"]))]);
    assert_eq!(
        apply_update(&u, &mut bad).unwrap_err().message,
        "Type mismatch for attribute to update"
    );
    let err = |v: serde_json::Value| convert_attribute_updates(&v).unwrap_err().message;
    assert_eq!(
        err(json!({"a": {"Action": "ADD"}})),
        "One or more parameter values were invalid: Only DELETE action is allowed when no \
         attribute value is specified"
    );
    assert_eq!(
        err(json!({"a": {"Action": "ADD", "Value": {"S": "x"}}})),
        "One or more parameter values were invalid: ADD action is not supported for the type S"
    );
    assert_eq!(
        err(json!({"a": {"Action": "DELETE", "Value": {"N": "1"}}})),
        "One or more parameter values were invalid: DELETE action with value is not supported \
         for the type N"
    );
}

#[test]
fn attributes_to_get_projects_top_level() {
    let p = convert_attributes_to_get(&json!(["a", "num"])).expect("ok");
    assert_eq!(
        project(&p, &sample()),
        item(&[("a", s("str")), ("num", n(5))])
    );
    assert_eq!(
        convert_attributes_to_get(&json!(["a", "a"]))
            .unwrap_err()
            .message,
        "One or more parameter values were invalid: Duplicate value in attribute name: a"
    );
}

#[test]
fn mixing_expression_and_legacy_parameters_is_rejected() {
    let err = check_expression_parameters(
        &[("ProjectionExpression", true), ("FilterExpression", false)],
        &[("AttributesToGet", true), ("ScanFilter", false)],
        false,
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "Can not use both expression and non-expression parameters in the same request: \
         Non-expression parameters: {AttributesToGet} Expression parameters: \
         {ProjectionExpression}"
    );
    assert_eq!(
        check_expression_parameters(&[("ConditionExpression", false)], &[], true, false)
            .unwrap_err()
            .message,
        "ExpressionAttributeNames can only be specified when using expressions"
    );
    assert_eq!(
        check_expression_parameters(
            &[
                ("ProjectionExpression", true),
                ("FilterExpression", false),
                ("KeyConditionExpression", false)
            ],
            &[("KeyConditions", true)],
            false,
            true
        )
        .unwrap_err()
        .message,
        "ExpressionAttributeValues can only be specified when using expressions: \
         FilterExpression and KeyConditionExpression are null"
    );
}

// ---------------------------------------------------------------- display round trips

#[test]
fn display_reparses_to_the_same_ast() {
    let ctx = std_ctx();
    for src in [
        "a = :s AND (#b = :n OR c.d[2] < :one) AND NOT begins_with(e, :s)",
        "(a = :s AND b = :s) AND c = :s",
        "a = :s OR (b = :s OR c = :s)",
        "size(#a.x) >= :n AND attribute_type(a, :t) AND a IN (:s, :n) AND b BETWEEN :one AND :n",
        "NOT (NOT a = :s)",
        "NOT NOT attribute_exists(#c[3])",
    ] {
        let c = ctx.cond(ExprKind::Filter, src).expect(src);
        let printed = c.to_string();
        assert_eq!(
            ctx.cond(ExprKind::Filter, &printed).expect(&printed),
            c,
            "{printed}"
        );
    }
    let src = "SET a = b + :n, c[1].#a = list_append(if_not_exists(x, :l), :l) REMOVE d, e.f ADD \
               g :n DELETE h :ss";
    let u = ctx.update(src).expect(src);
    assert_eq!(ctx.update(&u.to_string()).expect("reparse"), u);
    let p = ctx.projection("a, #b.c[3], d").expect("p");
    assert_eq!(ctx.projection(&p.to_string()).expect("reparse"), p);
}

// ---------------------------------------------------------------- property tests

const PLAIN_NAMES: [&str; 5] = ["a", "b", "c1", "x_y", "Zed"];
const ALIASES: [(&str, &str); 3] = [("#n1", "name one"), ("#n2", "status"), ("#n3", "b")];

fn prop_ctx() -> Ctx {
    Ctx::new(
        &ALIASES,
        &[
            (":s", s("str")),
            (":s2", s("zzz")),
            (":n", n(5)),
            (":lo", n(1)),
            (":hi", n(9)),
            (":t", s("S")),
            (":l", AV::L(vec![n(1)])),
        ],
    )
}

fn value_of(ph: &str) -> Value {
    let ctx = prop_ctx();
    Value {
        placeholder: ph.to_string(),
        value: ctx.values[ph].clone(),
    }
}

fn arb_name() -> impl Strategy<Value = Name> {
    prop_oneof![
        (0..PLAIN_NAMES.len()).prop_map(|i| Name::plain(PLAIN_NAMES[i])),
        (0..ALIASES.len()).prop_map(|i| Name {
            name: ALIASES[i].1.to_string(),
            alias: Some(ALIASES[i].0.to_string()),
        }),
    ]
}

fn arb_path() -> impl Strategy<Value = Path> {
    (
        arb_name(),
        prop::collection::vec(
            prop_oneof![
                arb_name().prop_map(PathElem::Name),
                (0u32..4).prop_map(PathElem::Index)
            ],
            0..3,
        ),
    )
        .prop_map(|(head, tail)| {
            let mut v = vec![PathElem::Name(head)];
            v.extend(tail);
            Path(v)
        })
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![Just(":s"), Just(":s2"), Just(":n"), Just(":lo")].prop_map(value_of)
}

fn arb_leaf() -> impl Strategy<Value = Condition> {
    let cmp = prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Ne),
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge)
    ];
    prop_oneof![
        (cmp.clone(), arb_path(), arb_value()).prop_map(|(op, p, v)| Condition::Compare(
            op,
            Operand::Path(p),
            Operand::Value(v)
        )),
        (cmp, arb_path(), arb_value()).prop_map(|(op, p, v)| Condition::Compare(
            op,
            Operand::Value(v),
            Operand::Size(Box::new(Operand::Path(p)))
        )),
        arb_path().prop_map(|p| Condition::Between(
            Operand::Path(p),
            Operand::Value(value_of(":lo")),
            Operand::Value(value_of(":hi"))
        )),
        (arb_path(), prop::collection::vec(arb_value(), 1..4)).prop_map(|(p, vs)| Condition::In(
            Operand::Path(p),
            vs.into_iter().map(Operand::Value).collect()
        )),
        arb_path().prop_map(Condition::Exists),
        arb_path().prop_map(Condition::NotExists),
        arb_path()
            .prop_map(|p| Condition::BeginsWith(Operand::Path(p), Operand::Value(value_of(":s")))),
        (arb_path(), arb_value())
            .prop_map(|(p, v)| Condition::Contains(Operand::Path(p), Operand::Value(v))),
        arb_path().prop_map(|p| Condition::AttributeType(
            Operand::Path(p),
            Operand::Value(value_of(":t"))
        )),
    ]
}

fn arb_condition() -> impl Strategy<Value = Condition> {
    arb_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Condition::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Condition::Or),
            inner.prop_map(|c| Condition::Not(Box::new(c))),
        ]
    })
}

fn arb_av() -> impl Strategy<Value = AV> {
    let leaf = prop_oneof![
        "[a-c]{0,3}".prop_map(AV::S),
        (-3i64..10).prop_map(|i| AV::N(Number::from_i64(i))),
        prop::collection::vec(any::<u8>(), 0..3).prop_map(AV::B),
        any::<bool>().prop_map(AV::Bool),
        Just(AV::Null),
        prop::collection::btree_set("[a-c]{1,2}", 1..3)
            .prop_map(|s| AV::SS(s.into_iter().collect())),
        prop::collection::btree_set(0i64..5, 1..3)
            .prop_map(|s| AV::NS(s.into_iter().map(Number::from_i64).collect())),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(AV::L),
            prop::collection::btree_map(
                prop_oneof![
                    Just("a".to_string()),
                    Just("b".to_string()),
                    Just("name one".to_string())
                ],
                inner,
                0..3
            )
            .prop_map(AV::M),
        ]
    })
}

fn arb_item() -> impl Strategy<Value = Item> {
    prop::collection::btree_map(
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("c1".to_string()),
            Just("name one".to_string()),
            Just("status".to_string())
        ],
        arb_av(),
        0..5,
    )
}

fn arb_update() -> impl Strategy<Value = UpdateExpr> {
    let operand = prop_oneof![
        arb_path().prop_map(UpdateOperand::Path),
        prop_oneof![Just(":s"), Just(":n"), Just(":l")]
            .prop_map(|v| UpdateOperand::Value(value_of(v))),
        (arb_path(), prop_oneof![Just(":n"), Just(":l")]).prop_map(|(p, v)| {
            UpdateOperand::IfNotExists(p, Box::new(UpdateOperand::Value(value_of(v))))
        }),
    ];
    let set_value = prop_oneof![
        operand.clone().prop_map(SetValue::Operand),
        (operand.clone(), operand.clone()).prop_map(|(a, b)| SetValue::Plus(a, b)),
        (operand.clone(), operand.clone()).prop_map(|(a, b)| SetValue::Minus(a, b)),
        (operand.clone(), operand).prop_map(|(a, b)| SetValue::Operand(UpdateOperand::ListAppend(
            Box::new(a),
            Box::new(b)
        ))),
    ];
    (
        prop::collection::vec((arb_path(), set_value), 0..3),
        prop::collection::vec(arb_path(), 0..3),
        prop::collection::vec(arb_path(), 0..2),
        any::<bool>(),
    )
        .prop_map(|(set, remove, add, legacy)| UpdateExpr {
            set,
            remove,
            add: add.into_iter().map(|p| (p, value_of(":n"))).collect(),
            delete: Vec::new(),
            legacy,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn printed_conditions_reparse_to_the_same_ast(c in arb_condition()) {
        let ctx = prop_ctx();
        let printed = c.to_string();
        let reparsed = ctx.cond(ExprKind::Filter, &printed);
        prop_assert_eq!(reparsed.as_ref().map_err(|e| e.message.clone()), Ok(&c), "{}", printed);
    }

    #[test]
    fn conditions_evaluate_without_panicking(c in arb_condition(), it in arb_item()) {
        let _ = eval_condition(&c, Some(&it));
        let _ = eval_condition(&c, None);
    }

    #[test]
    fn updates_apply_without_panicking(u in arb_update(), it in arb_item()) {
        let mut work = it.clone();
        match apply_update(&u, &mut work) {
            Ok(out) => {
                let _ = project_paths(&work, &out.paths);
            }
            Err(_) => prop_assert_eq!(work, it),
        }
    }

    #[test]
    fn parsers_never_panic_on_token_soup(
        toks in prop::collection::vec(
            prop_oneof![
                Just("a"), Just("#n1"), Just(":s"), Just(":n"), Just("("), Just(")"), Just("["),
                Just("]"), Just("3"), Just("."), Just(","), Just("="), Just("<>"), Just("<"),
                Just(">="), Just("+"), Just("-"), Just("AND"), Just("OR"), Just("NOT"),
                Just("BETWEEN"), Just("IN"), Just("SET"), Just("REMOVE"), Just("ADD"),
                Just("DELETE"), Just("size"), Just("contains"), Just("if_not_exists"),
                Just("list_append"), Just("status"), Just("ü"), Just(":")
            ],
            0..24,
        )
    ) {
        let src = toks.join(" ");
        let ctx = prop_ctx();
        let _ = ctx.cond(ExprKind::Condition, &src);
        let _ = ctx.cond(ExprKind::KeyCondition, &src).map(|c| analyze_key_condition(&c, "a", Some("b")));
        let _ = ctx.update(&src);
        let _ = ctx.projection(&src);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic_on_arbitrary_text(src in "\\PC{0,40}") {
        let ctx = prop_ctx();
        let _ = ctx.cond(ExprKind::Filter, &src);
        let _ = ctx.update(&src);
        let _ = ctx.projection(&src);
    }
}

#[test]
fn size_of_a_string_counts_utf16_code_units() {
    let mut it = Item::new();
    it.insert("a".into(), s("é𝄞"));
    // Three UTF-16 code units (é, and 𝄞 as a surrogate pair), six UTF-8 bytes.
    let ctx = Ctx::new(&[], &[(":three", n(3))]);
    let c = ctx
        .cond(ExprKind::Filter, "size(a) = :three")
        .expect("parse");
    assert!(eval_condition(&c, Some(&it)).expect("eval"));
    let ctx = Ctx::new(&[], &[(":six", n(6))]);
    let c = ctx.cond(ExprKind::Filter, "size(a) = :six").expect("parse");
    assert!(!eval_condition(&c, Some(&it)).expect("eval"));
}

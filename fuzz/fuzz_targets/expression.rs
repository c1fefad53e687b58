#![no_main]
//! Every expression parser returns an AST or a ValidationException message, never a panic.
use std::collections::BTreeMap;

use hashlog::expr::{
    parse_condition, parse_projection, parse_update, ExprKind, Placeholders, Usage,
};
use hashlog::model::AttributeValue;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let names: BTreeMap<String, String> = [("#a".to_string(), "a".to_string())].into();
    let values: BTreeMap<String, AttributeValue> =
        [(":v".to_string(), AttributeValue::S("x".into()))].into();
    let ph = Placeholders {
        names: Some(&names),
        values: Some(&values),
    };
    for kind in [
        ExprKind::Condition,
        ExprKind::Filter,
        ExprKind::KeyCondition,
    ] {
        let _ = parse_condition(kind, src, &ph, &mut Usage::default());
    }
    let _ = parse_update(src, &ph, &mut Usage::default());
    let _ = parse_projection(src, &ph, &mut Usage::default());
});

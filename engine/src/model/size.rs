//! DynamoDB's item size rules (used for the 400 KB limit and capacity units).
//!
//! - S: UTF-8 bytes; B: bytes; N: `Number::size_bytes` (base-100 digits aligned on the
//!   decimal point, plus one, plus one if negative); BOOL, NULL: 1.
//! - SS/NS/BS: the sum of their elements.
//! - M and L: 3 bytes of overhead plus, per element, 1 byte and the element (for M, also the
//!   name's UTF-8 bytes).
//! - An item: the sum over attributes of name bytes plus value size.

use super::value::{AttributeValue, Item};

pub fn attribute_value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.size_bytes(),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Bool(_) | AttributeValue::Null => 1,
        AttributeValue::SS(v) => v.iter().map(|s| s.len()).sum(),
        AttributeValue::NS(v) => v.iter().map(|n| n.size_bytes()).sum(),
        AttributeValue::BS(v) => v.iter().map(|b| b.len()).sum(),
        AttributeValue::L(l) => 3 + l.iter().map(|e| 1 + attribute_value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + attribute_value_size(e))
                .sum::<usize>()
        }
    }
}

pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(k, v)| k.len() + attribute_value_size(v))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Number;

    #[test]
    fn sizes_follow_the_rules() {
        let mut item = Item::new();
        item.insert("pk".into(), AttributeValue::S("abc".into()));
        item.insert(
            "n".into(),
            AttributeValue::N(Number::parse("12345").expect("n")),
        );
        item.insert("b".into(), AttributeValue::Bool(true));
        assert_eq!(item_size(&item), (2 + 3) + (1 + 4) + (1 + 1));
        assert_eq!(attribute_value_size(&AttributeValue::L(vec![])), 3);
        assert_eq!(
            attribute_value_size(&AttributeValue::L(vec![AttributeValue::Null])),
            5
        );
    }
}

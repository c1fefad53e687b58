//! Capacity: DynamoDB's capacity-unit arithmetic (throttling, burst and adaptive capacity
//! come with the capacity issue).

pub mod units;

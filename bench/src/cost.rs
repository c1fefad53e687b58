//! What a simulated run would cost, on-demand versus provisioned.
//!
//! Default prices: DynamoDB Standard table class, us-east-1, as published by AWS, 2024 prices
//! (on-demand after the November 2024 reduction); verify before use. Storage, backups, streams
//! and data transfer are not modelled.

/// Prices in US dollars.
#[derive(Debug, Clone, Copy, PartialEq, clap::Args)]
pub struct Prices {
    /// On-demand: dollars per million write request units.
    #[arg(long, default_value_t = 0.625)]
    pub od_write_per_million: f64,
    /// On-demand: dollars per million read request units.
    #[arg(long, default_value_t = 0.125)]
    pub od_read_per_million: f64,
    /// Provisioned: dollars per WCU-hour.
    #[arg(long, default_value_t = 0.00065)]
    pub wcu_hour: f64,
    /// Provisioned: dollars per RCU-hour.
    #[arg(long, default_value_t = 0.00013)]
    pub rcu_hour: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            od_write_per_million: 0.625,
            od_read_per_million: 0.125,
            wcu_hour: 0.00065,
            rcu_hour: 0.00013,
        }
    }
}

impl Prices {
    /// On-demand bill for `read_units` RRU and `write_units` WRU consumed.
    pub fn on_demand(&self, read_units: f64, write_units: f64) -> f64 {
        read_units / 1e6 * self.od_read_per_million + write_units / 1e6 * self.od_write_per_million
    }

    /// Provisioned bill for holding `rcu` and `wcu` for `secs` seconds.
    pub fn provisioned(&self, rcu: f64, wcu: f64, secs: f64) -> f64 {
        (rcu * self.rcu_hour + wcu * self.wcu_hour) * secs / 3600.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hour_of_a_thousand_writes_per_second() {
        let p = Prices::default();
        // 3.6 M writes on-demand: 3.6 × 0.625 = 2.25 $; 1000 WCU for an hour: 0.65 $.
        assert!((p.on_demand(0.0, 3.6e6) - 2.25).abs() < 1e-9);
        assert!((p.provisioned(0.0, 1000.0, 3600.0) - 0.65).abs() < 1e-9);
        assert!((p.provisioned(1000.0, 0.0, 1800.0) - 0.065).abs() < 1e-9);
    }
}

//! `hashlog-server`: the DynamoDB wire protocol (JSON over HTTP/1.1) in front of an
//! [`Executor`], with SigV4 verification, Prometheus metrics and graceful shutdown.
//!
//! The binary (`hashlog serve`, in `main.rs`) opens the engine, wraps it as an [`Executor`]
//! and calls [`http::serve`]; tests drive the same code with fake executors.

pub mod executor;
pub mod http;
pub mod metrics;
pub mod placer;
pub mod sigv4;
pub mod triggers;

use std::net::SocketAddr;

pub use executor::Executor;
pub use http::{bind, serve, serve_on, shutdown_signal, App, ServeError, ServerConfig};

/// Refuses to expose an unauthenticated endpoint beyond loopback unless asked to.
pub fn check_listen_policy(
    addr: SocketAddr,
    has_credentials: bool,
    allow_unauthenticated: bool,
) -> Result<(), String> {
    if has_credentials || allow_unauthenticated || addr.ip().is_loopback() {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {addr} without --credentials: anyone who can reach it could read \
         and write your data. Pass --credentials FILE, or --allow-unauthenticated to do it anyway"
    ))
}

#[cfg(test)]
mod tests {
    use super::check_listen_policy;

    #[test]
    fn non_loopback_needs_credentials_or_explicit_permission() {
        let public = "0.0.0.0:8000".parse().expect("addr");
        let lan = "192.168.1.5:8000".parse().expect("addr");
        let local4 = "127.0.0.1:0".parse().expect("addr");
        let local6 = "[::1]:8000".parse().expect("addr");
        assert!(check_listen_policy(public, false, false).is_err());
        assert!(check_listen_policy(lan, false, false).is_err());
        assert!(check_listen_policy(public, true, false).is_ok());
        assert!(check_listen_policy(public, false, true).is_ok());
        assert!(check_listen_policy(local4, false, false).is_ok());
        assert!(check_listen_policy(local6, false, false).is_ok());
    }
}

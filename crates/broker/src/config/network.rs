//! The connection-layer keys that need more than a number: `queued.max.request.bytes`,
//! `connections.max.idle.ms`, `max.connections.per.ip` and its overrides, with the checks
//! Kafka's `KafkaConfig` makes between them.

use super::bad;
use anyhow::Result;
use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};

const OVERRIDES_KEY: &str = "max.connections.per.ip.overrides";

/// The validated connection limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkLimits {
    /// `queued.max.request.bytes`; `None` when not positive (Kafka: -1, no limit).
    pub queued_max_request_bytes: Option<usize>,
    /// `connections.max.idle.ms`; `None` when negative (never closed for idleness).
    pub connections_max_idle_ms: Option<u64>,
    pub max_connections_per_ip: usize,
    /// `max.connections.per.ip.overrides`, hosts resolved to addresses at start-up as Kafka's
    /// `ConnectionQuotas` resolves them.
    pub max_connections_per_ip_overrides: HashMap<IpAddr, usize>,
}

impl NetworkLimits {
    pub(crate) fn new(
        queued_max_request_bytes: i64,
        socket_request_max_bytes: usize,
        connections_max_idle_ms: i64,
        max_connections_per_ip: i64,
        overrides: &str,
    ) -> Result<NetworkLimits> {
        // Kafka requires room for the largest frame, so that every frame can eventually be read.
        if queued_max_request_bytes > 0
            && (queued_max_request_bytes as u64) < socket_request_max_bytes as u64
        {
            return Err(bad(
                "queued.max.request.bytes",
                &queued_max_request_bytes.to_string(),
                &format!(
                    "must be -1 or at least socket.request.max.bytes ({socket_request_max_bytes})"
                ),
            ));
        }
        if max_connections_per_ip < 0 {
            return Err(bad(
                "max.connections.per.ip",
                &max_connections_per_ip.to_string(),
                "must be at least 0",
            ));
        }
        let max_connections_per_ip_overrides = parse_overrides(overrides)?;
        if max_connections_per_ip == 0 && max_connections_per_ip_overrides.is_empty() {
            return Err(bad(
                "max.connections.per.ip",
                "0",
                "can be 0 only if max.connections.per.ip.overrides is set",
            ));
        }
        Ok(NetworkLimits {
            queued_max_request_bytes: (queued_max_request_bytes > 0)
                .then(|| usize::try_from(queued_max_request_bytes).unwrap_or(usize::MAX)),
            connections_max_idle_ms: u64::try_from(connections_max_idle_ms).ok(),
            max_connections_per_ip: max_connections_per_ip as usize,
            max_connections_per_ip_overrides,
        })
    }

    /// The most connections accepted at once from `ip`.
    pub fn max_connections_from(&self, ip: IpAddr) -> usize {
        self.max_connections_per_ip_overrides
            .get(&ip.to_canonical())
            .copied()
            .unwrap_or(self.max_connections_per_ip)
    }
}

/// Kafka's format: `host:count` entries separated by commas (split at the last colon, so IPv6
/// addresses work); the empty string means no overrides. A host name is resolved now, and the
/// count applies to every address it resolves to.
fn parse_overrides(value: &str) -> Result<HashMap<IpAddr, usize>> {
    let mut out = HashMap::new();
    if value.is_empty() {
        return Ok(out);
    }
    for entry in value.split(',').map(str::trim) {
        let (host, count) = entry.rsplit_once(':').ok_or_else(|| {
            bad(
                OVERRIDES_KEY,
                value,
                &format!("entry '{entry}' is not host:count"),
            )
        })?;
        let (host, count) = (host.trim(), count.trim());
        let count: usize = count.parse().map_err(|_| {
            bad(
                OVERRIDES_KEY,
                value,
                &format!("count '{count}' of '{host}' is not a non-negative integer"),
            )
        })?;
        // Kafka's Utils.validHostPattern: letters, digits and - % . _ :
        let valid = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-%._:".contains(c));
        if !valid {
            return Err(bad(
                OVERRIDES_KEY,
                value,
                &format!("invalid address '{host}'"),
            ));
        }
        for ip in resolve(host).map_err(|why| bad(OVERRIDES_KEY, value, &why))? {
            out.insert(ip.to_canonical(), count);
        }
    }
    Ok(out)
}

fn resolve(host: &str) -> Result<Vec<IpAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let addrs = (host, 0)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{host}': {e}"))?;
    let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
    if ips.is_empty() {
        return Err(format!("'{host}' resolves to no address"));
    }
    Ok(ips)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(overrides: &str) -> Result<NetworkLimits> {
        NetworkLimits::new(-1, 1024, 600_000, 2147483647, overrides)
    }

    #[test]
    fn overrides_in_kafkas_format_apply_per_address() {
        let l = limits("127.0.0.1:3, ::1:7").unwrap();
        assert_eq!(
            l.max_connections_from("127.0.0.2".parse().unwrap()),
            2147483647
        );
        assert_eq!(l.max_connections_from("::1".parse().unwrap()), 7);
        assert_eq!(l.max_connections_from("127.0.0.1".parse().unwrap()), 3);
        assert_eq!(
            l.max_connections_from("::ffff:127.0.0.1".parse().unwrap()),
            3,
            "an IPv4-mapped peer counts as its IPv4 address"
        );
        let by_name = limits("localhost:5").unwrap();
        assert_eq!(
            by_name.max_connections_from("127.0.0.1".parse().unwrap()),
            5
        );
        assert!(limits("")
            .unwrap()
            .max_connections_per_ip_overrides
            .is_empty());
    }

    #[test]
    fn a_malformed_override_fails_naming_key_and_value() {
        for value in [
            "127.0.0.1",
            "127.0.0.1:many",
            "127.0.0.1:-1",
            "a:1,,b:2",
            ":3",
            "bad/host:1",
        ] {
            let err = limits(value).unwrap_err().to_string();
            assert!(
                err.contains(OVERRIDES_KEY) && err.contains(value),
                "{value}: {err}"
            );
        }
    }

    #[test]
    fn kafkas_cross_checks_hold() {
        let err = NetworkLimits::new(1000, 1024, -1, 1, "")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("queued.max.request.bytes") && err.contains("1000"),
            "{err}"
        );
        let err = NetworkLimits::new(-1, 1024, -1, 0, "")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("max.connections.per.ip") && err.contains("'0'"),
            "{err}"
        );
        let l = NetworkLimits::new(2048, 1024, -1, 0, "127.0.0.1:1").unwrap();
        assert_eq!(l.queued_max_request_bytes, Some(2048));
        assert_eq!(l.connections_max_idle_ms, None);
        assert_eq!(l.max_connections_from("127.0.0.9".parse().unwrap()), 0);
    }
}

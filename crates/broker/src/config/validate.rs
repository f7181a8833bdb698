//! Kafka's parsing and validation of one config value (`ConfigDef.parseType` and its
//! validators), with Kafka's messages: "Invalid value X for configuration K: why". Checked
//! against a real Kafka 4.4 (CreateTopics and IncrementalAlterConfigs with bad values).

use super::defs::ConfigType;

/// Kafka's validators, as generated into [`super::kafka_defs`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Validator {
    None,
    /// `ConfigDef.Range`: inclusive bounds, written as Kafka prints them.
    Range(Option<&'static str>, Option<&'static str>),
    /// `ConfigDef.ValidString`.
    OneOf(&'static [&'static str]),
    /// `ConfigDef.CaseInsensitiveValidString`.
    OneOfIgnoringCase(&'static [&'static str]),
    /// `ConfigDef.ValidList`: every item one of these; an empty set allows anything.
    List(&'static [&'static str]),
    NonEmptyString,
    NonEmptyList,
    /// `compression.gzip.level`: 1..=9 or -1.
    GzipLevel,
    /// `*.replication.throttled.replicas`: `*` or `partition:broker` pairs.
    ThrottledReplicas,
}

fn invalid(name: &str, shown: &str, why: &str) -> String {
    format!("Invalid value {shown} for configuration {name}: {why}")
}

/// Kafka's LIST parsing: trimmed, split on commas, items trimmed; "" is the empty list.
pub fn split_list(value: &str) -> Vec<&str> {
    let v = value.trim();
    if v.is_empty() {
        return Vec::new();
    }
    v.split(',').map(str::trim).collect()
}

/// How Java prints a double (`Double.toString`) for the usual magnitudes.
fn java_double(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e7 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// A parsed number, printed as Kafka prints the parsed value in its messages.
enum Number {
    Integer(i64),
    Double(f64),
}

impl Number {
    fn as_f64(&self) -> f64 {
        match self {
            Number::Integer(i) => *i as f64,
            Number::Double(d) => *d,
        }
    }
    fn shown(&self) -> String {
        match self {
            Number::Integer(i) => i.to_string(),
            Number::Double(d) => java_double(*d),
        }
    }
    /// Exact comparison with a bound, so i64 extremes are not rounded through f64.
    fn below(&self, bound: &str) -> bool {
        match (self, bound.parse::<i64>()) {
            (Number::Integer(i), Ok(b)) => *i < b,
            _ => self.as_f64() < bound.parse::<f64>().unwrap_or(f64::NEG_INFINITY),
        }
    }
    fn above(&self, bound: &str) -> bool {
        match (self, bound.parse::<i64>()) {
            (Number::Integer(i), Ok(b)) => *i > b,
            _ => self.as_f64() > bound.parse::<f64>().unwrap_or(f64::INFINITY),
        }
    }
}

fn parse_number(name: &str, kind: ConfigType, raw: &str) -> Result<Option<Number>, String> {
    let v = raw.trim();
    let not_a = |t: &str| invalid(name, v, &format!("Not a number of type {t}"));
    Ok(Some(match kind {
        ConfigType::Int => Number::Integer(v.parse::<i32>().map_err(|_| not_a("INT"))? as i64),
        ConfigType::Short => Number::Integer(v.parse::<i16>().map_err(|_| not_a("SHORT"))? as i64),
        ConfigType::Long => Number::Integer(v.parse::<i64>().map_err(|_| not_a("LONG"))?),
        ConfigType::Double => Number::Double(
            v.parse::<f64>()
                .ok()
                .filter(|d| !d.is_nan())
                .ok_or_else(|| not_a("DOUBLE"))?,
        ),
        _ => return Ok(None),
    }))
}

/// Checks `raw` as Kafka would for a key of type `kind` with `validator`.
pub fn check_value(
    name: &str,
    kind: ConfigType,
    validator: Validator,
    raw: &str,
) -> Result<(), String> {
    let v = raw.trim();
    if kind == ConfigType::Boolean
        && !v.eq_ignore_ascii_case("true")
        && !v.eq_ignore_ascii_case("false")
    {
        return Err(invalid(
            name,
            v,
            "Expected value to be either true or false",
        ));
    }
    let number = parse_number(name, kind, raw)?;
    match validator {
        Validator::None => Ok(()),
        Validator::Range(min, max) => {
            let Some(n) = number else { return Ok(()) };
            if let Some(min) = min.filter(|m| n.below(m)) {
                return Err(invalid(
                    name,
                    &n.shown(),
                    &format!("Value must be at least {min}"),
                ));
            }
            if let Some(max) = max.filter(|m| n.above(m)) {
                return Err(invalid(
                    name,
                    &n.shown(),
                    &format!("Value must be no more than {max}"),
                ));
            }
            Ok(())
        }
        Validator::OneOf(allowed) => match allowed.contains(&v) {
            true => Ok(()),
            false => Err(invalid(name, v, &one_of(allowed))),
        },
        Validator::OneOfIgnoringCase(allowed) => {
            match allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) {
                true => Ok(()),
                false => Err(invalid(name, v, &one_of(allowed))),
            }
        }
        Validator::List([]) => Ok(()),
        Validator::List(allowed) => {
            match split_list(v).into_iter().find(|i| !allowed.contains(i)) {
                None => Ok(()),
                Some(bad) => Err(invalid(name, bad, &one_of(allowed))),
            }
        }
        Validator::NonEmptyString if v.is_empty() => {
            Err(invalid(name, v, "String must be non-empty"))
        }
        Validator::NonEmptyString => Ok(()),
        Validator::NonEmptyList if split_list(v).is_empty() => {
            Err(invalid(name, "[]", "Empty list"))
        }
        Validator::NonEmptyList => Ok(()),
        Validator::GzipLevel => match number {
            Some(Number::Integer(l)) if l == -1 || (1..=9).contains(&l) => Ok(()),
            Some(n) => Err(invalid(
                name,
                &n.shown(),
                "Value must be between 1 and 9 or equal to -1",
            )),
            None => Ok(()),
        },
        Validator::ThrottledReplicas => throttled_replicas(name, v),
    }
}

fn one_of(allowed: &[&str]) -> String {
    format!("String must be one of: {}", allowed.join(", "))
}

/// Kafka's `ThrottledReplicaListValidator`: `*`, or items `partition:broker` (digits).
fn throttled_replicas(name: &str, v: &str) -> Result<(), String> {
    let items = split_list(v);
    let pair = |i: &&str| {
        i.is_empty()
            || i.split_once(':').is_some_and(|(p, b)| {
                !p.is_empty()
                    && !b.is_empty()
                    && p.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            })
    };
    if v == "*" || items.iter().all(pair) {
        return Ok(());
    }
    Err(invalid(
        name,
        &format!("[{}]", items.join(", ")),
        &format!("{name} must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConfigType::*;

    /// Messages copied from Kafka 4.4's answers to CreateTopics (tests/interop probes).
    #[test]
    fn messages_are_kafkas() {
        let cases: &[(&str, ConfigType, Validator, &str, &str)] = &[
            ("retention.ms", Long, Validator::Range(Some("-1"), None), "soon",
             "Invalid value soon for configuration retention.ms: Not a number of type LONG"),
            ("retention.ms", Long, Validator::Range(Some("-1"), None), "-2",
             "Invalid value -2 for configuration retention.ms: Value must be at least -1"),
            ("compression.zstd.level", Int, Validator::Range(Some("-131072"), Some("22")), "23",
             "Invalid value 23 for configuration compression.zstd.level: Value must be no more than 22"),
            ("min.cleanable.dirty.ratio", Double, Validator::Range(Some("0"), Some("1")), "2",
             "Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"),
            ("segment.bytes", Int, Validator::None, "3000000000",
             "Invalid value 3000000000 for configuration segment.bytes: Not a number of type INT"),
            ("preallocate", Boolean, Validator::None, "maybe",
             "Invalid value maybe for configuration preallocate: Expected value to be either true or false"),
            ("compression.type", String, Validator::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]), "LZ4",
             "Invalid value LZ4 for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"),
            ("log.cleanup.policy", List, Validator::List(&["compact", "delete"]), "compact,bogus",
             "Invalid value bogus for configuration log.cleanup.policy: String must be one of: compact, delete"),
            ("compression.gzip.level", Int, Validator::GzipLevel, "10",
             "Invalid value 10 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"),
            ("follower.replication.throttled.replicas", List, Validator::ThrottledReplicas, "bad",
             "Invalid value [bad] for configuration follower.replication.throttled.replicas: follower.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."),
        ];
        for (name, kind, validator, value, want) in cases {
            assert_eq!(
                check_value(name, *kind, *validator, value).unwrap_err(),
                *want
            );
        }
    }

    #[test]
    fn values_kafka_accepts_pass() {
        let list = Validator::List(&["compact", "delete"]);
        for (kind, validator, value) in [
            (List, list, ""),
            (List, list, "compact, delete"),
            (List, list, "compact,compact"),
            (Boolean, Validator::None, "TRUE"),
            (Long, Validator::Range(Some("0"), None), " 5 "),
            (
                Long,
                Validator::Range(Some("1"), None),
                "9223372036854775807",
            ),
            (Int, Validator::GzipLevel, "-1"),
            (List, Validator::ThrottledReplicas, "*"),
            (List, Validator::ThrottledReplicas, "0:1, 2:1"),
        ] {
            assert!(
                check_value("k", kind, validator, value).is_ok(),
                "{value:?}"
            );
        }
    }
}

//! Client-side partition assignors, selected by `partition.assignment.strategy` and run by
//! the group leader: `range`, `roundrobin`, `sticky`, `cooperative-sticky`. They follow the
//! Java client's algorithms (RangeAssignor, RoundRobinAssignor, AbstractStickyAssignor and
//! CooperativeStickyAssignor) down to their tie-breaking, so a group mixing this client with
//! Java or librdkafka members gets the same assignment whoever leads it.

mod java_order;
mod protocol;
mod sticky;

pub use protocol::{
    cooperative_user_data, decode_assignment, decode_subscription, encode_assignment,
    encode_subscription, parse_sticky_user_data, sticky_user_data, Subscription,
};

use crate::error::{ClientError, Result};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

pub type TopicPartition = (String, i32);

/// One member's subscription as the leader sees it.
#[derive(Debug, Clone)]
pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub topics: Vec<String>,
    /// Partitions the member says it owned before this rebalance.
    pub owned: Vec<TopicPartition>,
    /// The generation `owned` is from, -1 when unknown: the newest claim on a partition
    /// wins (sticky strategies only).
    pub generation: i32,
}

impl Default for Member {
    fn default() -> Self {
        Member {
            member_id: String::new(),
            instance_id: None,
            topics: Vec::new(),
            owned: Vec::new(),
            generation: -1,
        }
    }
}

/// Java's MemberInfo order: static members first by instance id, then by member id.
fn member_order(a: &Member, b: &Member) -> Ordering {
    match (&a.instance_id, &b.instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
}

/// The strategies this client knows, by protocol name.
pub const STRATEGIES: &[&str] = &["range", "roundrobin", "sticky", "cooperative-sticky"];

/// Assigns partitions to members; every member gets an entry.
pub fn assign(
    strategy: &str,
    members: &[Member],
    partitions: &BTreeMap<String, i32>,
) -> Result<BTreeMap<String, Vec<TopicPartition>>> {
    let mut out: BTreeMap<String, Vec<TopicPartition>> = members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect();
    let mut sorted: Vec<&Member> = members.iter().collect();
    sorted.sort_by(|a, b| member_order(a, b));
    match strategy {
        "range" => {
            let topics: BTreeSet<&String> = members.iter().flat_map(|m| &m.topics).collect();
            for t in topics {
                let Some(&n) = partitions.get(t) else {
                    continue;
                };
                let consumers: Vec<&&Member> =
                    sorted.iter().filter(|m| m.topics.contains(t)).collect();
                let c = consumers.len() as i32;
                let (per, extra) = (n / c, n % c);
                for (i, m) in consumers.iter().enumerate() {
                    let i = i as i32;
                    let start = per * i + i.min(extra);
                    let len = per + i32::from(i < extra);
                    let a = out.get_mut(&m.member_id).expect("member");
                    a.extend((start..start + len).map(|p| (t.clone(), p)));
                }
            }
        }
        "roundrobin" => {
            let topics: BTreeSet<&String> = members.iter().flat_map(|m| &m.topics).collect();
            let mut i = 0usize;
            for t in topics {
                let Some(&n) = partitions.get(t) else {
                    continue;
                };
                for p in 0..n {
                    while !sorted[i % sorted.len()].topics.contains(t) {
                        i += 1;
                    }
                    out.get_mut(&sorted[i % sorted.len()].member_id)
                        .expect("member")
                        .push((t.clone(), p));
                    i += 1;
                }
            }
        }
        "sticky" | "cooperative-sticky" => {
            out.extend(sticky::assign(
                members,
                partitions,
                strategy == "cooperative-sticky",
            ));
        }
        other => {
            return Err(ClientError::Config {
                key: "partition.assignment.strategy".into(),
                value: other.into(),
                reason: format!("must be one of {}", STRATEGIES.join(", ")),
            })
        }
    }
    for a in out.values_mut() {
        a.sort();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, topics: &[&str]) -> Member {
        Member {
            member_id: id.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }
    }
    fn parts(spec: &[(&str, i32)]) -> BTreeMap<String, i32> {
        spec.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }
    fn tps(spec: &[(&str, i32)]) -> Vec<TopicPartition> {
        spec.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    /// RangeAssignor's javadoc: C0, C1 on t0, t1 with 3 partitions each.
    #[test]
    fn range_matches_the_java_javadoc_example() {
        let ms = [m("C0", &["t0", "t1"]), m("C1", &["t0", "t1"])];
        let a = assign("range", &ms, &parts(&[("t0", 3), ("t1", 3)])).unwrap();
        assert_eq!(a["C0"], tps(&[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)]));
        assert_eq!(a["C1"], tps(&[("t0", 2), ("t1", 2)]));
    }

    /// RoundRobinAssignor's javadoc, both examples.
    #[test]
    fn roundrobin_matches_the_java_javadoc_examples() {
        let ms = [m("C0", &["t0", "t1"]), m("C1", &["t0", "t1"])];
        let a = assign("roundrobin", &ms, &parts(&[("t0", 3), ("t1", 3)])).unwrap();
        assert_eq!(a["C0"], tps(&[("t0", 0), ("t0", 2), ("t1", 1)]));
        assert_eq!(a["C1"], tps(&[("t0", 1), ("t1", 0), ("t1", 2)]));
        let ms = [
            m("C0", &["t0"]),
            m("C1", &["t0", "t1"]),
            m("C2", &["t0", "t1", "t2"]),
        ];
        let a = assign(
            "roundrobin",
            &ms,
            &parts(&[("t0", 1), ("t1", 2), ("t2", 3)]),
        )
        .unwrap();
        assert_eq!(a["C0"], tps(&[("t0", 0)]));
        assert_eq!(a["C1"], tps(&[("t1", 0)]));
        assert_eq!(a["C2"], tps(&[("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)]));
    }
}

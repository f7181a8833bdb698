//! Client-side partition assignors, selected by `partition.assignment.strategy` and run by
//! the group leader: `range`, `roundrobin`, `sticky`, `cooperative-sticky`, following the Java
//! client's algorithms (RangeAssignor, RoundRobinAssignor, AbstractStickyAssignor's
//! constrained assignment, CooperativeStickyAssignor's withholding of moving partitions), and
//! the consumer protocol's subscription/assignment encoding.

use crate::error::{ClientError, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTp;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTp;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

pub type TopicPartition = (String, i32);

/// One member's subscription as the leader sees it.
#[derive(Debug, Clone, Default)]
pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub topics: Vec<String>,
    pub owned: Vec<TopicPartition>,
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
            let sticky = sticky_assign(members, partitions);
            out.extend(sticky);
            if strategy == "cooperative-sticky" {
                // A partition moving between two members is withheld this round: its old
                // owner revokes it and rejoins, and the next rebalance hands it over.
                let owner: HashMap<&TopicPartition, &String> = members
                    .iter()
                    .flat_map(|m| m.owned.iter().map(move |tp| (tp, &m.member_id)))
                    .collect();
                for (m, tps) in out.iter_mut() {
                    tps.retain(|tp| owner.get(tp).is_none_or(|o| *o == m));
                }
            }
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

/// AbstractStickyAssignor's constrained assignment: keep owned partitions up to the quota,
/// then deal the rest round robin over members (sorted by member id) below `minQuota`, then
/// one each to members at `minQuota` until `maxQuota` members are full. Members subscribing
/// to different topics get a balanced assignment of their own topics, owned ones first.
fn sticky_assign(
    members: &[Member],
    partitions: &BTreeMap<String, i32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut out: BTreeMap<String, Vec<TopicPartition>> = members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect();
    if members.is_empty() {
        return out;
    }
    let same = members.windows(2).all(|w| {
        let a: BTreeSet<_> = w[0].topics.iter().collect();
        let b: BTreeSet<_> = w[1].topics.iter().collect();
        a == b
    });
    let all: Vec<TopicPartition> = if same {
        let topics: BTreeSet<&String> = members[0].topics.iter().collect();
        topics
            .into_iter()
            .filter_map(|t| partitions.get(t).map(|n| (t, *n)))
            .flat_map(|(t, n)| (0..n).map(move |p| (t.clone(), p)))
            .collect()
    } else {
        let topics: BTreeSet<&String> = members.iter().flat_map(|m| &m.topics).collect();
        topics
            .into_iter()
            .filter_map(|t| partitions.get(t).map(|n| (t, *n)))
            .flat_map(|(t, n)| (0..n).map(move |p| (t.clone(), p)))
            .collect()
    };
    let exists: BTreeSet<&TopicPartition> = all.iter().collect();
    if !same {
        // Balanced greedy over each member's own topics, owned partitions kept when possible.
        let mut assigned: BTreeSet<TopicPartition> = BTreeSet::new();
        let mut by_id: Vec<&Member> = members.iter().collect();
        by_id.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        for m in &by_id {
            for tp in &m.owned {
                if exists.contains(tp) && m.topics.contains(&tp.0) && assigned.insert(tp.clone()) {
                    out.get_mut(&m.member_id).expect("member").push(tp.clone());
                }
            }
        }
        for tp in &all {
            if assigned.contains(tp) {
                continue;
            }
            let best = by_id
                .iter()
                .filter(|m| m.topics.contains(&tp.0))
                .min_by_key(|m| out[&m.member_id].len());
            if let Some(m) = best {
                out.get_mut(&m.member_id).expect("member").push(tp.clone());
            }
        }
        return out;
    }
    let n = members.len();
    let total = all.len();
    let (min_quota, max_quota) = (total / n, total.div_ceil(n));
    let expected_over_min = total % n;
    let mut over_min = 0usize;
    let mut assigned: BTreeSet<TopicPartition> = BTreeSet::new();
    let mut ids: Vec<&Member> = members.iter().collect();
    ids.sort_by(|a, b| a.member_id.cmp(&b.member_id));
    let mut under_min: Vec<String> = Vec::new();
    let mut exactly_min: VecDeque<String> = VecDeque::new();
    for m in &ids {
        let owned: Vec<TopicPartition> = m
            .owned
            .iter()
            .filter(|tp| exists.contains(tp) && !assigned.contains(*tp))
            .cloned()
            .collect();
        let a = out.get_mut(&m.member_id).expect("member");
        if owned.len() >= max_quota && over_min < expected_over_min {
            a.extend(owned.into_iter().take(max_quota));
            over_min += 1;
        } else if owned.len() >= min_quota {
            a.extend(owned.into_iter().take(min_quota));
            if a.len() == min_quota && max_quota > min_quota {
                exactly_min.push_back(m.member_id.clone());
            }
        } else {
            a.extend(owned);
            under_min.push(m.member_id.clone());
        }
        assigned.extend(a.iter().cloned());
    }
    under_min.sort();
    let unassigned: Vec<TopicPartition> = all
        .into_iter()
        .filter(|tp| !assigned.contains(tp))
        .collect();
    let mut i = 0usize;
    for tp in unassigned {
        let member = if !under_min.is_empty() {
            if i >= under_min.len() {
                i = 0;
            }
            under_min[i].clone()
        } else if let Some(m) = exactly_min.pop_front() {
            m
        } else {
            break;
        };
        let a = out.get_mut(&member).expect("member");
        a.push(tp);
        let count = a.len();
        if !under_min.is_empty() {
            if count == min_quota {
                under_min.remove(i);
                if max_quota > min_quota {
                    exactly_min.push_back(member);
                }
            } else {
                i += 1;
            }
        }
        if count == max_quota && max_quota > min_quota {
            over_min += 1;
            if over_min == expected_over_min {
                exactly_min.clear();
            }
        }
    }
    out
}

fn tn(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// JoinGroup metadata: version (int16) then ConsumerProtocolSubscription v1.
pub fn encode_subscription(topics: &[String], owned: &[TopicPartition]) -> Bytes {
    let mut s = ConsumerProtocolSubscription::default();
    s.topics = topics
        .iter()
        .map(|t| StrBytes::from_string(t.clone()))
        .collect();
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in owned {
        by_topic.entry(t).or_default().push(*p);
    }
    s.owned_partitions = by_topic
        .into_iter()
        .map(|(t, ps)| {
            let mut o = OwnedTp::default();
            o.topic = tn(t);
            o.partitions = ps;
            o
        })
        .collect();
    let mut buf = BytesMut::new();
    buf.put_i16(1);
    s.encode(&mut buf, 1).expect("encode subscription");
    buf.freeze()
}

/// Decodes a member's subscription (any version up to 3).
pub fn decode_subscription(mut b: Bytes) -> Result<(Vec<String>, Vec<TopicPartition>)> {
    if b.remaining() < 2 {
        return Err(ClientError::Protocol("empty subscription".into()));
    }
    let v = b.get_i16().clamp(0, 3);
    let s = ConsumerProtocolSubscription::decode(&mut b, v)
        .map_err(|e| ClientError::Protocol(format!("subscription: {e}")))?;
    let owned = s
        .owned_partitions
        .iter()
        .flat_map(|o| o.partitions.iter().map(|p| (o.topic.0.to_string(), *p)))
        .collect();
    Ok((s.topics.iter().map(|t| t.to_string()).collect(), owned))
}

/// SyncGroup assignment: version 0 ConsumerProtocolAssignment.
pub fn encode_assignment(tps: &[TopicPartition]) -> Bytes {
    let mut a = ConsumerProtocolAssignment::default();
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in tps {
        by_topic.entry(t).or_default().push(*p);
    }
    a.assigned_partitions = by_topic
        .into_iter()
        .map(|(t, ps)| {
            let mut x = AssignedTp::default();
            x.topic = tn(t);
            x.partitions = ps;
            x
        })
        .collect();
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    a.encode(&mut buf, 0).expect("encode assignment");
    buf.freeze()
}

/// Decodes an assignment (any version up to 3); empty bytes mean nothing assigned.
pub fn decode_assignment(mut b: Bytes) -> Result<Vec<TopicPartition>> {
    if b.remaining() < 2 {
        return Ok(Vec::new());
    }
    let v = b.get_i16().clamp(0, 3);
    let a = ConsumerProtocolAssignment::decode(&mut b, v)
        .map_err(|e| ClientError::Protocol(format!("assignment: {e}")))?;
    let mut out: Vec<TopicPartition> = a
        .assigned_partitions
        .iter()
        .flat_map(|x| x.partitions.iter().map(|p| (x.topic.0.to_string(), *p)))
        .collect();
    out.sort();
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

    /// StickyAssignor's javadoc: C0..C2 on t0..t3 with 2 partitions each, then C1 leaves.
    #[test]
    fn sticky_matches_the_java_javadoc_example_and_keeps_partitions_when_a_member_leaves() {
        let all = ["t0", "t1", "t2", "t3"];
        let ms = [m("C0", &all), m("C1", &all), m("C2", &all)];
        let p = parts(&[("t0", 2), ("t1", 2), ("t2", 2), ("t3", 2)]);
        let a = assign("sticky", &ms, &p).unwrap();
        assert_eq!(a["C0"], tps(&[("t0", 0), ("t1", 1), ("t3", 0)]));
        assert_eq!(a["C1"], tps(&[("t0", 1), ("t2", 0), ("t3", 1)]));
        assert_eq!(a["C2"], tps(&[("t1", 0), ("t2", 1)]));
        // C1 leaves: C0 and C2 keep theirs and split C1's.
        let mut c0 = m("C0", &all);
        c0.owned = a["C0"].clone();
        let mut c2 = m("C2", &all);
        c2.owned = a["C2"].clone();
        let b = assign("sticky", &[c0, c2], &p).unwrap();
        assert!(a["C0"].iter().all(|tp| b["C0"].contains(tp)));
        assert!(a["C2"].iter().all(|tp| b["C2"].contains(tp)));
        assert_eq!((b["C0"].len(), b["C2"].len()), (4, 4));
    }

    #[test]
    fn cooperative_sticky_withholds_partitions_that_change_owner() {
        let mut c0 = m("C0", &["t"]);
        c0.owned = tps(&[("t", 0), ("t", 1), ("t", 2), ("t", 3)]);
        let c1 = m("C1", &["t"]);
        let a = assign(
            "cooperative-sticky",
            &[c0.clone(), c1.clone()],
            &parts(&[("t", 4)]),
        )
        .unwrap();
        // C0 keeps two; the two moving to C1 are assigned to nobody this round.
        assert_eq!(a["C0"].len(), 2);
        assert!(a["C1"].is_empty());
        c0.owned = a["C0"].clone();
        let b = assign("cooperative-sticky", &[c0, c1], &parts(&[("t", 4)])).unwrap();
        assert_eq!(b["C0"], a["C0"]);
        assert_eq!(b["C1"].len(), 2);
    }

    #[test]
    fn subscriptions_and_assignments_round_trip_through_the_consumer_protocol() {
        let b = encode_subscription(&["a".into(), "b".into()], &tps(&[("a", 1)]));
        let (topics, owned) = decode_subscription(b).unwrap();
        assert_eq!(topics, vec!["a", "b"]);
        assert_eq!(owned, tps(&[("a", 1)]));
        let b = encode_assignment(&tps(&[("a", 0), ("b", 2)]));
        assert_eq!(decode_assignment(b).unwrap(), tps(&[("a", 0), ("b", 2)]));
    }
}

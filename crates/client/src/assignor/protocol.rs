//! The consumer protocol's bytes: the subscription a member sends in JoinGroup (with the
//! user data each sticky strategy adds), the assignment the leader sends in SyncGroup, and
//! how the leader turns a subscription into what a member previously owned ("member data"),
//! the way Java's StickyAssignor and CooperativeStickyAssignor each read it.

use super::{Member, TopicPartition};
use crate::error::{ClientError, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTp;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTp;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::collections::BTreeMap;

/// One member's JoinGroup metadata for one strategy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subscription {
    pub topics: Vec<String>,
    /// Strategy-specific bytes (see [`sticky_user_data`] and [`cooperative_user_data`]).
    pub user_data: Option<Bytes>,
    /// What the member holds while it joins (cooperative members keep their partitions).
    pub owned: Vec<TopicPartition>,
    /// The group generation the member was in, -1 for none (subscription version 2+).
    pub generation: i32,
}

fn tn(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn by_topic(tps: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut m: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in tps {
        m.entry(t).or_default().push(*p);
    }
    m
}

/// Version 3, as the Java client and librdkafka send it: version 2 added the generation
/// (which cooperative-sticky leaders trust over user data), version 3 the rack (none here).
pub fn encode_subscription(s: &Subscription) -> Bytes {
    let mut m = ConsumerProtocolSubscription::default();
    m.topics = s
        .topics
        .iter()
        .map(|t| StrBytes::from_string(t.clone()))
        .collect();
    m.user_data = s.user_data.clone();
    m.owned_partitions = by_topic(&s.owned)
        .into_iter()
        .map(|(t, ps)| {
            let mut o = OwnedTp::default();
            o.topic = tn(t);
            o.partitions = ps;
            o
        })
        .collect();
    m.generation_id = s.generation;
    let mut buf = BytesMut::new();
    buf.put_i16(3);
    m.encode(&mut buf, 3).expect("encode subscription");
    buf.freeze()
}

/// Decodes a member's subscription of any version; newer versions than 3 are read as 3
/// (the format only ever appends fields).
pub fn decode_subscription(mut b: Bytes) -> Result<Subscription> {
    if b.remaining() < 2 {
        return Err(ClientError::Protocol("empty subscription".into()));
    }
    let v = b.get_i16().clamp(0, 3);
    let s = ConsumerProtocolSubscription::decode(&mut b, v)
        .map_err(|e| ClientError::Protocol(format!("subscription: {e}")))?;
    Ok(Subscription {
        topics: s.topics.iter().map(|t| t.to_string()).collect(),
        user_data: s.user_data,
        owned: s
            .owned_partitions
            .iter()
            .flat_map(|o| o.partitions.iter().map(|p| (o.topic.0.to_string(), *p)))
            .collect(),
        generation: s.generation_id,
    })
}

/// Eager `sticky` user data, version 1: `[topic [partition]] generation`. Eager members give
/// up every partition before rejoining, so this is the only place the leader learns what
/// each one had (librdkafka writes the same bytes for its cooperative-sticky).
pub fn sticky_user_data(previous: &[TopicPartition], generation: i32) -> Bytes {
    let mut buf = BytesMut::new();
    let grouped = by_topic(previous);
    buf.put_i32(grouped.len() as i32);
    for (t, ps) in grouped {
        buf.put_i16(t.len() as i16);
        buf.put_slice(t.as_bytes());
        buf.put_i32(ps.len() as i32);
        for p in ps {
            buf.put_i32(p);
        }
    }
    buf.put_i32(generation);
    buf.freeze()
}

fn read_assignment(b: &mut &[u8]) -> Option<Vec<TopicPartition>> {
    let mut out = Vec::new();
    if b.remaining() < 4 {
        return None;
    }
    let topics = b.get_i32();
    for _ in 0..usize::try_from(topics).ok()? {
        if b.remaining() < 2 {
            return None;
        }
        let len = usize::try_from(b.get_i16()).ok()?;
        if b.remaining() < len + 4 {
            return None;
        }
        let topic = std::str::from_utf8(&b[..len]).ok()?.to_string();
        b.advance(len);
        let n = usize::try_from(b.get_i32()).ok()?;
        if b.remaining() < n.checked_mul(4)? {
            return None;
        }
        out.extend((0..n).map(|_| (topic.clone(), b.get_i32())));
    }
    Some(out)
}

/// Reads eager `sticky` user data: version 1 when a generation follows the partitions,
/// else version 0 (no generation). Unreadable bytes count as no previous assignment with
/// generation -1, as in Java.
pub fn parse_sticky_user_data(data: &[u8]) -> (Vec<TopicPartition>, i32) {
    let mut b = data;
    match read_assignment(&mut b) {
        Some(tps) if b.remaining() >= 4 => (tps, b.get_i32()),
        Some(tps) => (tps, -1),
        None => (Vec::new(), -1),
    }
}

/// `cooperative-sticky` user data: the generation of the member's last assignment, for
/// leaders that read subscriptions older than version 2.
pub fn cooperative_user_data(generation: i32) -> Bytes {
    Bytes::copy_from_slice(&generation.to_be_bytes())
}

impl Member {
    /// What the leader's assignor knows of a member: its topics, and the partitions it
    /// claims with the generation of that claim, read as Java's assignor for `strategy`
    /// reads them.
    pub fn from_subscription(
        strategy: &str,
        member_id: &str,
        instance_id: Option<&str>,
        s: &Subscription,
    ) -> Member {
        let (owned, generation) = match strategy {
            // Java ignores ownedPartitions here (an eager member revoked them all). A
            // member without user data but with owned partitions is not a Java client;
            // its owned partitions are the better guess.
            "sticky" => match &s.user_data {
                Some(d) if !d.is_empty() => parse_sticky_user_data(d),
                _ if !s.owned.is_empty() => (s.owned.clone(), s.generation),
                _ => (Vec::new(), -1),
            },
            "cooperative-sticky" if s.generation >= 0 => (s.owned.clone(), s.generation),
            "cooperative-sticky" => {
                let g = match &s.user_data {
                    Some(d) if d.len() >= 4 => i32::from_be_bytes([d[0], d[1], d[2], d[3]]),
                    _ => -1,
                };
                (s.owned.clone(), g)
            }
            _ => (s.owned.clone(), s.generation),
        };
        Member {
            member_id: member_id.to_string(),
            instance_id: instance_id.map(str::to_string),
            topics: s.topics.clone(),
            owned,
            generation,
        }
    }
}

/// SyncGroup assignment: version 0 ConsumerProtocolAssignment.
pub fn encode_assignment(tps: &[TopicPartition]) -> Bytes {
    let mut a = ConsumerProtocolAssignment::default();
    a.assigned_partitions = by_topic(tps)
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

    fn tps(spec: &[(&str, i32)]) -> Vec<TopicPartition> {
        spec.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    #[test]
    fn subscriptions_and_assignments_round_trip_through_the_consumer_protocol() {
        let s = Subscription {
            topics: vec!["a".into(), "b".into()],
            user_data: Some(cooperative_user_data(7)),
            owned: tps(&[("a", 1)]),
            generation: 7,
        };
        assert_eq!(decode_subscription(encode_subscription(&s)).unwrap(), s);
        let b = encode_assignment(&tps(&[("a", 0), ("b", 2)]));
        assert_eq!(decode_assignment(b).unwrap(), tps(&[("a", 0), ("b", 2)]));
    }

    /// StickyAssignor's user data v1 is `[topic(int16 len + utf8) [int32]] int32`.
    #[test]
    fn sticky_user_data_has_javas_v1_layout_and_reads_back() {
        let b = sticky_user_data(&tps(&[("t", 2), ("t", 0)]), 5);
        let want: Vec<u8> = [
            &1i32.to_be_bytes()[..],
            &1i16.to_be_bytes(),
            b"t",
            &2i32.to_be_bytes(),
            &2i32.to_be_bytes(),
            &0i32.to_be_bytes(),
            &5i32.to_be_bytes(),
        ]
        .concat();
        assert_eq!(&b[..], &want[..]);
        assert_eq!(parse_sticky_user_data(&b), (tps(&[("t", 2), ("t", 0)]), 5));
    }

    /// StickyAssignorTest.testSchemaBackwardCompatibility: v0 user data has no generation.
    #[test]
    fn sticky_user_data_v0_reads_as_partitions_without_a_generation() {
        let v1 = sticky_user_data(&tps(&[("t", 1)]), 3);
        let v0 = &v1[..v1.len() - 4];
        assert_eq!(parse_sticky_user_data(v0), (tps(&[("t", 1)]), -1));
        assert_eq!(parse_sticky_user_data(&[0, 0]), (Vec::new(), -1));
    }

    /// StickyAssignorTest.testMemberDataWillHonorUserData: eager sticky reads user data even
    /// when the subscription carries other owned partitions and another generation.
    #[test]
    fn eager_sticky_takes_previous_ownership_from_user_data() {
        let s = Subscription {
            topics: vec!["t".into()],
            user_data: Some(sticky_user_data(&tps(&[("t1", 0), ("t2", 1)]), 0)),
            owned: tps(&[("t", 0)]),
            generation: 1,
        };
        let m = Member::from_subscription("sticky", "c", None, &s);
        assert_eq!((m.owned, m.generation), (tps(&[("t1", 0), ("t2", 1)]), 0));
        let none = Subscription {
            topics: vec!["t".into()],
            ..Default::default()
        };
        let m = Member::from_subscription("sticky", "c", None, &none);
        assert_eq!((m.owned.len(), m.generation), (0, -1));
    }

    /// CooperativeStickyAssignorTest.testDecodeGeneration and testMemberDataWithInconsistent
    /// Data: the v2 generation wins; without it the user data's int32 is the generation.
    #[test]
    fn cooperative_sticky_takes_the_generation_from_the_subscription_then_user_data() {
        let mut s = Subscription {
            topics: vec!["t".into()],
            user_data: Some(cooperative_user_data(4)),
            owned: tps(&[("t", 0)]),
            generation: 9,
        };
        let m = Member::from_subscription("cooperative-sticky", "c", None, &s);
        assert_eq!((m.owned.clone(), m.generation), (tps(&[("t", 0)]), 9));
        s.generation = -1;
        let m = Member::from_subscription("cooperative-sticky", "c", None, &s);
        assert_eq!(m.generation, 4);
        s.user_data = None;
        let m = Member::from_subscription("cooperative-sticky", "c", None, &s);
        assert_eq!(m.generation, -1);
    }
}

//! `sticky` and `cooperative-sticky`, following Java's AbstractStickyAssignor: settle who
//! owned what (the highest generation wins a partition claimed twice; two claims in one
//! generation void it), then run the constrained assignment when every member subscribes
//! to the same topics and the general one otherwise. Cooperative-sticky then withholds
//! every partition that changes owner: the old owner revokes it and rejoins, and the next
//! rebalance hands it over.
//!
//! Rack-aware placement is not implemented: this client sends no rack, and Java only uses
//! racks when members send one.

mod constrained;
mod general;
mod movements;

use super::java_order;
use super::{Member, TopicPartition};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Partitions per topic, only for topics some member subscribes to.
pub(crate) type Topics = BTreeMap<String, i32>;

/// Who owned what after settling conflicting claims (Java's `allSubscriptionsEqual`).
pub(crate) struct Claims {
    /// Per member (index into the member slice), its claims still standing.
    pub owned: Vec<Vec<TopicPartition>>,
    /// Claimed by two members of one generation: nobody keeps these.
    pub contested: HashSet<TopicPartition>,
    pub max_generation: i32,
}

/// Members in the order Java's leader iterates its `HashMap` of subscriptions, which was
/// filled in JoinGroup response order.
pub(crate) fn java_member_order(members: &[Member]) -> Vec<usize> {
    let ids: Vec<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
    java_order::string_key_order(&ids)
}

fn settle_claims(members: &[Member], topics: &Topics, order: &[usize]) -> Claims {
    let mut owned: Vec<Vec<TopicPartition>> = vec![Vec::new(); members.len()];
    let mut contested = HashSet::new();
    let mut holder: HashMap<TopicPartition, usize> = HashMap::new();
    let mut max_generation = -1;
    for &i in order {
        let m = &members[i];
        max_generation = max_generation.max(m.generation);
        for tp in &m.owned {
            // Java only checks the topic; a partition number the topic does not have is
            // dropped here too rather than kept as an impossible claim.
            if !topics.get(&tp.0).is_some_and(|&n| (0..n).contains(&tp.1)) {
                continue;
            }
            match holder.get(tp).copied() {
                None => {
                    owned[i].push(tp.clone());
                    holder.insert(tp.clone(), i);
                }
                Some(other) => {
                    let theirs = members[other].generation;
                    if m.generation == theirs {
                        contested.insert(tp.clone());
                        owned[other].retain(|x| x != tp);
                        holder.insert(tp.clone(), i);
                    } else if m.generation > theirs {
                        owned[i].push(tp.clone());
                        owned[other].retain(|x| x != tp);
                        holder.insert(tp.clone(), i);
                    }
                }
            }
        }
    }
    Claims {
        owned,
        contested,
        max_generation,
    }
}

/// Runs the sticky assignment; the result has an entry for every member.
pub(crate) fn assign(
    members: &[Member],
    partitions: &BTreeMap<String, i32>,
    cooperative: bool,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut out: BTreeMap<String, Vec<TopicPartition>> = members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect();
    if members.is_empty() {
        return out;
    }
    let subscribed: BTreeSet<&String> = members.iter().flat_map(|m| &m.topics).collect();
    let topics: Topics = partitions
        .iter()
        .filter(|(t, _)| subscribed.contains(t))
        .map(|(t, n)| (t.clone(), *n))
        .collect();
    let order = java_member_order(members);
    let claims = settle_claims(members, &topics, &order);
    let first: BTreeSet<&String> = members[order[0]].topics.iter().collect();
    let same = members
        .iter()
        .all(|m| m.topics.iter().collect::<BTreeSet<_>>() == first);
    let (per_member, transferring) = if same {
        constrained::assign(members, &topics, &claims, &order)
    } else {
        let a = general::assign(members, &topics, claims, &order);
        let t = transferring_ownership(members, &a);
        (a, t)
    };
    for (i, mut tps) in per_member.into_iter().enumerate() {
        if cooperative {
            tps.retain(|tp| !transferring.contains_key(tp));
        }
        tps.sort();
        out.insert(members[i].member_id.clone(), tps);
    }
    out
}

/// Java's CooperativeStickyAssignor after a general assignment: a partition is moving when
/// its new owner did not claim it and some other member claimed it but lost it.
fn transferring_ownership(
    members: &[Member],
    assigned: &[Vec<TopicPartition>],
) -> HashMap<TopicPartition, usize> {
    let mut added: HashMap<TopicPartition, usize> = HashMap::new();
    let mut revoked: HashSet<&TopicPartition> = HashSet::new();
    for (i, m) in members.iter().enumerate() {
        let owned: HashSet<&TopicPartition> = m.owned.iter().collect();
        let now: HashSet<&TopicPartition> = assigned[i].iter().collect();
        for tp in &assigned[i] {
            if !owned.contains(tp) {
                added.insert(tp.clone(), i);
            }
        }
        revoked.extend(m.owned.iter().filter(|tp| !now.contains(tp)));
    }
    added.retain(|tp, _| revoked.contains(tp));
    added
}

#[cfg(test)]
mod cases;
#[cfg(test)]
mod props;

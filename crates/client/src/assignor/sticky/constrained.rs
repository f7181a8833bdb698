//! Java's ConstrainedAssignmentBuilder, for groups whose members all subscribe to the same
//! topics. With `total` partitions over `n` members everyone ends with `total / n` (the min
//! quota) or one more (the max quota), and exactly `total % n` members get the extra one.
//!
//! 1. In Java's member order, each member keeps its claims sorted by (partition, topic): all
//!    of them when fewer than the min quota, the max quota while extra slots remain, else
//!    the min quota. What it cannot keep may move.
//! 2. The rest, sorted by (topic, partition), is dealt round robin to members below the min
//!    quota (sorted by id); once none is, one each to members at exactly the min quota.

use super::{Claims, Topics};
use crate::assignor::{Member, TopicPartition};
use std::collections::{HashMap, HashSet, VecDeque};

pub(super) fn assign(
    members: &[Member],
    topics: &Topics,
    claims: &Claims,
    order: &[usize],
) -> (Vec<Vec<TopicPartition>>, HashMap<TopicPartition, usize>) {
    let n = members.len();
    let total: usize = topics.values().map(|&c| c.max(0) as usize).sum();
    let (min_quota, max_quota) = (total / n, total.div_ceil(n));
    let expected_over_min = total % n;
    let mut over_min = 0usize;
    let mut out: Vec<Vec<TopicPartition>> = vec![Vec::new(); n];
    let mut assigned: HashSet<TopicPartition> = HashSet::new();
    // Claims a member could not keep, by the member that made them.
    let mut maybe_revoked: HashMap<TopicPartition, usize> = HashMap::new();
    let mut under_min: Vec<usize> = Vec::new();
    let mut exactly_min: VecDeque<usize> = VecDeque::new();
    for &i in order {
        let mut owned: Vec<TopicPartition> = claims.owned[i]
            .iter()
            .filter(|tp| !claims.contested.contains(*tp))
            .cloned()
            .collect();
        owned.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        let keep = if owned.len() < min_quota {
            under_min.push(i);
            owned.len()
        } else if owned.len() >= max_quota && over_min < expected_over_min {
            over_min += 1;
            if over_min == expected_over_min {
                exactly_min.clear();
            }
            max_quota
        } else {
            if over_min < expected_over_min {
                exactly_min.push_back(i);
            }
            min_quota
        };
        for tp in owned.drain(keep..) {
            maybe_revoked.insert(tp, i);
        }
        assigned.extend(owned.iter().cloned());
        out[i] = owned;
    }
    let id = |i: &usize| members[*i].member_id.clone();
    under_min.sort_by_key(id);
    exactly_min.make_contiguous().sort_by_key(id);

    let mut transferring: HashMap<TopicPartition, usize> = HashMap::new();
    // Java walks `under_min` with a list iterator: `next` is where it stands, and a member
    // reaching the min quota is removed where it stands.
    let mut next = 0usize;
    for (t, &count) in topics {
        for p in 0..count {
            let tp = (t.clone(), p);
            if assigned.contains(&tp) {
                continue;
            }
            let from_under = !under_min.is_empty();
            let member = if next < under_min.len() {
                next += 1;
                under_min[next - 1]
            } else if from_under {
                next = 1;
                under_min[0]
            } else if let Some(m) = exactly_min.pop_front() {
                m
            } else {
                // Java throws here; the quotas make it unreachable.
                continue;
            };
            if maybe_revoked.get(&tp).is_some_and(|&o| o != member)
                || claims.contested.contains(&tp)
            {
                transferring.insert(tp.clone(), member);
            }
            out[member].push(tp);
            // (Java also counts members reaching the max quota here, only to log.)
            if from_under && out[member].len() == min_quota {
                under_min.remove(next - 1);
                next -= 1;
                exactly_min.push_back(member);
            }
        }
    }
    (out, transferring)
}

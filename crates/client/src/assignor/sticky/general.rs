//! Java's GeneralAssignmentBuilder, for groups whose members subscribe to different topics.
//!
//! 1. Every member keeps its standing claims on topics it still subscribes to.
//! 2. Each unassigned partition (partitions ordered by how few members can take their topic,
//!    then topic, then number) goes to the member with the fewest partitions (then the
//!    smallest id) that subscribes to its topic.
//! 3. Partitions are then moved while the assignment is unbalanced — some member could take
//!    a partition from one with at least two more. A partition goes back to its
//!    previous-generation owner when that owner has at least two fewer; otherwise to the
//!    least loaded member that can take it, if the current owner has two more than some
//!    member subscribed to its topic. Only partitions that were unassigned are tried first
//!    (unless a member dropped a topic), then all.
//! 4. Unless nobody owned anything, a reshuffle that did not lower the balance score (the
//!    sum of size differences over all member pairs) is undone: stickiness wins a tie.

use super::movements::Movements;
use super::{Claims, Topics};
use crate::assignor::{Member, TopicPartition};
use std::collections::{BTreeMap, HashMap, HashSet};

struct Builder<'a> {
    members: &'a [Member],
    topics: &'a Topics,
    /// Subscribed topics that exist, per member.
    member_topics: Vec<Vec<&'a str>>,
    /// Members subscribing to each topic.
    topic_members: BTreeMap<&'a str, Vec<usize>>,
    current: Vec<Vec<TopicPartition>>,
    /// Per topic, the member holding each partition.
    owner: HashMap<&'a str, Vec<Option<usize>>>,
    /// Members taking part in the balancing (Java's sortedCurrentSubscriptions).
    active: Vec<bool>,
    /// The member that held each partition in the generation before the newest one.
    previous: HashMap<TopicPartition, (usize, i32)>,
    movements: Movements,
}

pub(super) fn assign(
    members: &[Member],
    topics: &Topics,
    claims: Claims,
    order: &[usize],
) -> Vec<Vec<TopicPartition>> {
    let mut topic_members: BTreeMap<&str, Vec<usize>> =
        topics.keys().map(|t| (t.as_str(), Vec::new())).collect();
    let member_topics: Vec<Vec<&str>> = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mine: Vec<&str> = topics
                .keys()
                .filter(|t| m.topics.contains(t))
                .map(String::as_str)
                .collect();
            for t in &mine {
                topic_members.get_mut(t).expect("topic").push(i);
            }
            mine
        })
        .collect();
    let mut b = Builder {
        members,
        topics,
        member_topics,
        topic_members,
        current: claims.owned,
        owner: topics
            .iter()
            .map(|(t, &n)| (t.as_str(), vec![None; n.max(0) as usize]))
            .collect(),
        active: vec![true; members.len()],
        previous: HashMap::new(),
        movements: Movements::default(),
    };
    b.fill_previous(order, claims.max_generation);
    // Step 1: drop claims on topics the member no longer subscribes to.
    let mut revocation_required = false;
    for (i, tps) in b.current.iter_mut().enumerate() {
        let before = tps.len();
        tps.retain(|tp| members[i].topics.contains(&tp.0));
        revocation_required |= tps.len() != before;
    }
    for i in 0..b.current.len() {
        for k in 0..b.current[i].len() {
            let tp = b.current[i][k].clone();
            b.set_owner(&tp, i);
        }
    }
    let mut all = b.sorted_partitions();
    let mut unassigned: Vec<TopicPartition> = all
        .iter()
        .filter(|tp| b.owner_of(tp).is_none())
        .cloned()
        .collect();
    b.balance(&mut all, &mut unassigned, revocation_required);
    b.current
}

impl<'a> Builder<'a> {
    /// Claims from members behind the newest generation: where a partition should return
    /// when its newest owner has too many (first member seen wins a tie, as in Java).
    fn fill_previous(&mut self, order: &[usize], max_generation: i32) {
        for &i in order {
            let m = &self.members[i];
            if m.generation < max_generation {
                for tp in &m.owned {
                    match self.previous.get(tp) {
                        Some(&(_, g)) if m.generation <= g => {}
                        _ => {
                            self.previous.insert(tp.clone(), (i, m.generation));
                        }
                    }
                }
            }
        }
    }

    fn sorted_partitions(&self) -> Vec<TopicPartition> {
        let mut ts: Vec<&String> = self.topics.keys().collect();
        ts.sort_by_key(|t| (self.topic_members[t.as_str()].len(), *t));
        ts.into_iter()
            .flat_map(|t| (0..self.topics[t]).map(move |p| (t.clone(), p)))
            .collect()
    }

    fn owner_of(&self, tp: &TopicPartition) -> Option<usize> {
        let ps = self.owner.get(tp.0.as_str())?;
        *ps.get(usize::try_from(tp.1).ok()?)?
    }

    fn set_owner(&mut self, tp: &TopicPartition, i: usize) {
        if let Some(slot) = self
            .owner
            .get_mut(tp.0.as_str())
            .and_then(|ps| ps.get_mut(usize::try_from(tp.1).ok()?))
        {
            *slot = Some(i);
        }
    }

    fn size(&self, i: usize) -> usize {
        self.current[i].len()
    }

    /// Java's TreeSet order: fewest partitions, then member id.
    fn key(&self, i: usize) -> (usize, &str) {
        (self.size(i), self.members[i].member_id.as_str())
    }

    /// The first active member in that order that subscribes to `topic`.
    fn least_loaded_for(&self, topic: &str) -> Option<usize> {
        self.topic_members
            .get(topic)?
            .iter()
            .copied()
            .filter(|&i| self.active[i])
            .min_by(|&a, &b| self.key(a).cmp(&self.key(b)))
    }

    fn max_size(&self, i: usize) -> usize {
        self.member_topics[i]
            .iter()
            .map(|t| self.topics[*t].max(0) as usize)
            .sum()
    }

    fn shared(&self, topic: &str) -> bool {
        self.topic_members.get(topic).is_some_and(|m| m.len() >= 2)
    }

    fn can_participate(&self, i: usize) -> bool {
        self.size(i) < self.max_size(i) || self.current[i].iter().any(|tp| self.shared(&tp.0))
    }

    /// No member could take a partition from one holding two or more than it.
    fn is_balanced(&self) -> bool {
        let sizes = (0..self.members.len())
            .filter(|&i| self.active[i])
            .map(|i| self.size(i));
        let (min, max) = sizes.fold((usize::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)));
        if min == usize::MAX || min + 1 >= max {
            return true;
        }
        for i in (0..self.members.len()).filter(|&i| self.active[i]) {
            let mine = self.size(i);
            if mine == self.max_size(i) {
                continue;
            }
            for t in &self.member_topics[i] {
                for o in self.owner[t].iter().flatten() {
                    if *o != i && self.active[*o] && mine + 1 < self.size(*o) {
                        return false;
                    }
                }
            }
        }
        true
    }

    fn score(&self) -> usize {
        let sizes: Vec<usize> = (0..self.members.len())
            .filter(|&i| self.active[i])
            .map(|i| self.size(i))
            .collect();
        let mut s = 0;
        for (k, a) in sizes.iter().enumerate() {
            for b in &sizes[k + 1..] {
                s += a.abs_diff(*b);
            }
        }
        s
    }

    fn balance(
        &mut self,
        all: &mut Vec<TopicPartition>,
        unassigned: &mut Vec<TopicPartition>,
        revocation_required: bool,
    ) {
        let initializing = self.current.iter().all(|c| c.is_empty());
        for tp in unassigned.iter() {
            if let Some(i) = self.least_loaded_for(&tp.0) {
                self.current[i].push(tp.clone());
                self.set_owner(tp, i);
            }
        }
        // Topics only one member can take, and members that hold all they can of topics
        // nobody else takes, cannot change: leave them out.
        let fixed: HashSet<&str> = self
            .topic_members
            .iter()
            .filter(|(_, m)| m.len() < 2)
            .map(|(t, _)| *t)
            .collect();
        all.retain(|tp| !fixed.contains(tp.0.as_str()));
        unassigned.retain(|tp| !fixed.contains(tp.0.as_str()));
        for i in 0..self.members.len() {
            if !self.can_participate(i) {
                self.active[i] = false;
            }
        }
        let before = (self.current.clone(), self.owner.clone());
        let before_score = self.score();
        if !revocation_required {
            self.reassign_all(unassigned);
        }
        let moved = self.reassign_all(all);
        if !initializing && moved && self.score() >= before_score {
            (self.current, self.owner) = before;
        }
        self.active.iter_mut().for_each(|a| *a = true);
    }

    /// Java's performReassignments: passes over `partitions` until one moves nothing.
    fn reassign_all(&mut self, partitions: &[TopicPartition]) -> bool {
        let mut moved_any = false;
        loop {
            let mut moved = false;
            for tp in partitions {
                if self.is_balanced() {
                    break;
                }
                let Some(owner) = self.owner_of(tp) else {
                    continue;
                };
                // Java would also send a partition back to a previous owner that is out of
                // the balancing or no longer subscribes to its topic; this does not.
                if let Some(&(prev, _)) = self.previous.get(tp) {
                    if self.active[prev]
                        && self.member_topics[prev].contains(&tp.0.as_str())
                        && self.size(owner) > self.size(prev) + 1
                    {
                        self.move_towards(tp, owner, prev);
                        moved = true;
                        continue;
                    }
                }
                let overloaded = self.topic_members[tp.0.as_str()]
                    .iter()
                    .any(|&o| self.active[o] && self.size(owner) > self.size(o) + 1);
                if overloaded {
                    let new = self.least_loaded_for(&tp.0).expect("a subscriber");
                    self.move_towards(tp, owner, new);
                    moved = true;
                }
            }
            moved_any |= moved;
            if !moved {
                return moved_any;
            }
        }
    }

    fn move_towards(&mut self, tp: &TopicPartition, owner: usize, new: usize) {
        let tp = self.movements.partition_to_move(tp, owner, new);
        let old = self.owner_of(&tp).expect("an owner");
        self.movements.record(&tp, old, new);
        self.current[old].retain(|x| *x != tp);
        self.current[new].push(tp.clone());
        self.set_owner(&tp, new);
    }
}

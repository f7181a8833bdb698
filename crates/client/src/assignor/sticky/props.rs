//! What Java's sticky assignors guarantee, for any members, subscriptions and previous
//! ownership: every partition goes to exactly one member subscribed to its topic; no member
//! could take a partition from one holding two or more than it; an assignment that is
//! already balanced comes back unchanged; and a member keeps its partitions unless balance
//! asks for them.

use crate::assignor::{assign, Member, TopicPartition};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone)]
struct Group {
    topics: BTreeMap<String, i32>,
    /// Per member: subscribed topics (as indices into `topics`) in round 1 and round 2, and
    /// whether it stays for round 2.
    members: Vec<(Vec<usize>, Vec<usize>, bool)>,
    /// Whether everyone subscribes to the same topics (Java's constrained path).
    same: bool,
}

fn group() -> impl Strategy<Value = Group> {
    (1usize..=4, any::<bool>()).prop_flat_map(|(nt, same)| {
        let subs = || proptest::sample::subsequence((0..nt).collect::<Vec<_>>(), 1..=nt);
        (
            proptest::collection::vec(0i32..8, nt),
            proptest::collection::vec((subs(), subs(), proptest::bool::weighted(0.8)), 1..7),
        )
            .prop_map(move |(counts, members)| Group {
                topics: counts
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (format!("t{i}"), *n))
                    .collect(),
                members,
                same,
            })
    })
}

fn names(g: &Group, idx: &[usize]) -> Vec<String> {
    let all: Vec<&String> = g.topics.keys().collect();
    idx.iter().map(|&i| all[i].clone()).collect()
}

fn check_valid_and_balanced(members: &[Member], topics: &BTreeMap<String, i32>, a: &Assigned) {
    let mut owner: HashMap<&TopicPartition, &str> = HashMap::new();
    for m in members {
        for tp in &a[&m.member_id] {
            assert!(m.topics.contains(&tp.0), "{tp:?} given to {}", m.member_id);
            assert!(owner.insert(tp, &m.member_id).is_none(), "{tp:?} twice");
        }
    }
    for (t, &n) in topics {
        if members.iter().any(|m| m.topics.contains(t)) {
            for p in 0..n {
                assert!(owner.contains_key(&(t.clone(), p)), "{t}-{p} unassigned");
            }
        }
    }
    for m in members {
        let mine = a[&m.member_id].len();
        for t in &m.topics {
            for p in 0..topics.get(t).copied().unwrap_or(0) {
                let o = owner[&(t.clone(), p)];
                assert!(
                    mine + 1 >= a[o].len(),
                    "{} ({mine}) could take {t}-{p} from {o} ({})",
                    m.member_id,
                    a[o].len()
                );
            }
        }
    }
}

type Assigned = BTreeMap<String, Vec<TopicPartition>>;

fn member(i: usize, topics: Vec<String>, owned: Vec<TopicPartition>, generation: i32) -> Member {
    Member {
        member_id: format!("m{i}"),
        topics,
        owned,
        generation,
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn sticky_assignments_are_complete_balanced_stable_and_sticky(g in group()) {
        let subs = |i: usize, round2: bool| {
            let (a, b, _) = &g.members[i];
            if g.same { names(&g, &g.members[0].0) } else { names(&g, if round2 { b } else { a }) }
        };
        let first: Vec<Member> = (0..g.members.len())
            .map(|i| member(i, subs(i, false), Vec::new(), -1))
            .collect();
        let a = assign("sticky", &first, &g.topics).unwrap();
        check_valid_and_balanced(&first, &g.topics, &a);

        // Round 2: some members leave, a newcomer joins, subscriptions may change.
        let mut second: Vec<Member> = (0..g.members.len())
            .filter(|&i| g.members[i].2)
            .map(|i| member(i, subs(i, true), a[&format!("m{i}")].clone(), 1))
            .collect();
        second.push(member(99, subs(0, true), Vec::new(), -1));
        let b = assign("sticky", &second, &g.topics).unwrap();
        check_valid_and_balanced(&second, &g.topics, &b);
        if g.same {
            // Equal subscriptions: everyone keeps its claims up to the smaller quota.
            let total: i32 = second[0].topics.iter().map(|t| g.topics[t]).sum();
            let min_quota = total as usize / second.len();
            for m in &second {
                let kept = m.owned.iter().filter(|tp| b[&m.member_id].contains(tp)).count();
                prop_assert!(kept >= m.owned.len().min(min_quota), "{} kept {kept}", m.member_id);
            }
        }
        // A partition leaves a member still subscribed to it only for a member that does
        // not end up with two more than the one it left.
        for m in &second {
            for tp in m.owned.iter().filter(|tp| m.topics.contains(&tp.0)) {
                if let Some((to, got)) = b.iter().find(|(_, tps)| tps.contains(tp)) {
                    let left = b[&m.member_id].len();
                    prop_assert!(to == &m.member_id || got.len() <= left + 1,
                        "{tp:?} left {} ({left}) for {to} ({})", m.member_id, got.len());
                }
            }
        }

        // Round 3 with nothing changed: the balanced assignment comes back as it is, and
        // cooperative-sticky has nothing to withhold.
        let third: Vec<Member> = second
            .iter()
            .map(|m| Member { owned: b[&m.member_id].clone(), generation: 2, ..m.clone() })
            .collect();
        for strategy in ["sticky", "cooperative-sticky"] {
            let c = assign(strategy, &third, &g.topics).unwrap();
            prop_assert_eq!(&c, &b);
        }
    }

    #[test]
    fn cooperative_sticky_only_withholds_partitions_another_member_still_owns(g in group()) {
        let members: Vec<Member> = (0..g.members.len())
            .map(|i| member(i, names(&g, &g.members[i].0), Vec::new(), -1))
            .collect();
        let a = assign("sticky", &members, &g.topics).unwrap();
        // A newcomer subscribed to everything joins; the others keep what they had.
        let mut next: Vec<Member> = members
            .iter()
            .map(|m| Member { owned: a[&m.member_id].clone(), generation: 1, ..m.clone() })
            .collect();
        next.push(member(99, g.topics.keys().cloned().collect(), Vec::new(), -1));
        let eager = assign("sticky", &next, &g.topics).unwrap();
        let coop = assign("cooperative-sticky", &next, &g.topics).unwrap();
        for m in &next {
            for tp in &eager[&m.member_id] {
                let moving = next.iter().any(|o| o.member_id != m.member_id && o.owned.contains(tp));
                prop_assert_eq!(coop[&m.member_id].contains(tp), !moving, "{:?}", tp);
            }
            prop_assert!(coop[&m.member_id].iter().all(|tp| eager[&m.member_id].contains(tp)));
        }
    }
}

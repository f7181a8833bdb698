//! Scenarios from Kafka's StickyAssignor javadoc and its StickyAssignorTest,
//! AbstractStickyAssignorTest and CooperativeStickyAssignorTest, with the assignment Java's
//! algorithm gives. Each expectation was worked out by stepping through Java's algorithm
//! and checked against Kafka's own assertions where the Kafka test makes them (they are
//! exact in the scenarios marked "asserted by Kafka").

use crate::assignor::{assign, Member, TopicPartition};
use std::collections::BTreeMap;

type Spec<'a> = (&'a str, i32, &'a [&'a str], &'a [(&'a str, i32)]);

fn run(strategy: &str, topics: &[(&str, i32)], members: &[Spec]) -> BTreeMap<String, String> {
    let ms: Vec<Member> = members
        .iter()
        .map(|(id, generation, subscribed, owned)| Member {
            member_id: id.to_string(),
            topics: subscribed.iter().map(|t| t.to_string()).collect(),
            owned: owned.iter().map(|(t, p)| (t.to_string(), *p)).collect(),
            generation: *generation,
            ..Default::default()
        })
        .collect();
    let partitions = topics.iter().map(|(t, n)| (t.to_string(), *n)).collect();
    assign(strategy, &ms, &partitions)
        .unwrap()
        .into_iter()
        .map(|(m, tps)| (m, show(&tps)))
        .collect()
}

/// "t-0 t-2 u-1": compact and easy to compare with Kafka's tests.
fn show(tps: &[TopicPartition]) -> String {
    tps.iter()
        .map(|(t, p)| format!("{t}-{p}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn expect(got: BTreeMap<String, String>, want: &[(&str, &str)]) {
    let want: BTreeMap<String, String> = want
        .iter()
        .map(|(m, a)| (m.to_string(), a.to_string()))
        .collect();
    assert_eq!(got, want);
}

const ALL: &[&str] = &["t0", "t1", "t2"];

/// StickyAssignor javadoc, example 2 (general path): C0 on t0, C1 on t0 t1, C2 on t0 t1 t2
/// with 1, 2, 3 partitions. Partitions go topic by topic, fewest subscribers first, each to
/// the least loaded subscriber; then C0 leaves and C1 alone takes t0-0, nothing else moves.
#[test]
fn sticky_matches_the_javadoc_example_for_different_subscriptions_and_a_member_leaving() {
    let topics = [("t0", 1), ("t1", 2), ("t2", 3)];
    let a = run(
        "sticky",
        &topics,
        &[
            ("C0", -1, &["t0"], &[]),
            ("C1", -1, &["t0", "t1"], &[]),
            ("C2", -1, ALL, &[]),
        ],
    );
    expect(
        a,
        &[
            ("C0", "t0-0"),
            ("C1", "t1-0 t1-1"),
            ("C2", "t2-0 t2-1 t2-2"),
        ],
    );
    let b = run(
        "sticky",
        &topics,
        &[
            ("C1", 1, &["t0", "t1"], &[("t1", 0), ("t1", 1)]),
            ("C2", 1, ALL, &[("t2", 0), ("t2", 1), ("t2", 2)]),
        ],
    );
    expect(b, &[("C1", "t0-0 t1-0 t1-1"), ("C2", "t2-0 t2-1 t2-2")]);
}

/// AbstractStickyAssignorTest.testMultipleConsumersMixedTopicSubscriptions (asserted by
/// Kafka): topic2 only consumer2 can take goes first, then topic1 round the least loaded.
#[test]
fn a_member_with_an_extra_topic_gets_it_and_the_shared_topic_goes_to_the_others() {
    let a = run(
        "sticky",
        &[("topic1", 3), ("topic2", 2)],
        &[
            ("consumer1", -1, &["topic1"], &[]),
            ("consumer2", -1, &["topic1", "topic2"], &[]),
            ("consumer3", -1, &["topic1"], &[]),
        ],
    );
    expect(
        a,
        &[
            ("consumer1", "topic1-0 topic1-2"),
            ("consumer2", "topic2-0 topic2-1"),
            ("consumer3", "topic1-1"),
        ],
    );
}

/// AbstractStickyAssignorTest.testPoorRoundRobinAssignmentScenario: the sticky result its
/// comment lists (Kafka asserts only validity and balance).
#[test]
fn sticky_balances_the_scenario_round_robin_handles_poorly() {
    let five: &[&str] = &["topic1", "topic2", "topic3", "topic4", "topic5"];
    let odd: &[&str] = &["topic1", "topic3", "topic5"];
    let a = run(
        "sticky",
        &[
            ("topic1", 2),
            ("topic2", 1),
            ("topic3", 2),
            ("topic4", 1),
            ("topic5", 2),
        ],
        &[
            ("consumer1", -1, five, &[]),
            ("consumer2", -1, odd, &[]),
            ("consumer3", -1, odd, &[]),
            ("consumer4", -1, five, &[]),
        ],
    );
    expect(
        a,
        &[
            ("consumer1", "topic2-0 topic3-0"),
            ("consumer2", "topic1-0 topic3-1"),
            ("consumer3", "topic1-1 topic5-0"),
            ("consumer4", "topic4-0 topic5-1"),
        ],
    );
}

/// AbstractStickyAssignorTest.testMoveExistingAssignments: every member already holds a
/// balanced share of its own topics, so nothing moves (and nothing is withheld).
#[test]
fn a_balanced_assignment_over_different_subscriptions_is_kept_as_it_is() {
    for strategy in ["sticky", "cooperative-sticky"] {
        let a = run(
            strategy,
            &[
                ("topic1", 1),
                ("topic2", 1),
                ("topic3", 1),
                ("topic4", 1),
                ("topic5", 1),
                ("topic6", 1),
            ],
            &[
                ("consumer1", 1, &["topic1", "topic2"], &[("topic1", 0)]),
                (
                    "consumer2",
                    1,
                    &["topic1", "topic2", "topic3", "topic4"],
                    &[("topic2", 0), ("topic3", 0)],
                ),
                (
                    "consumer3",
                    1,
                    &["topic2", "topic3", "topic4", "topic5", "topic6"],
                    &[("topic4", 0), ("topic5", 0), ("topic6", 0)],
                ),
            ],
        );
        expect(
            a,
            &[
                ("consumer1", "topic1-0"),
                ("consumer2", "topic2-0 topic3-0"),
                ("consumer3", "topic4-0 topic5-0 topic6-0"),
            ],
        );
    }
}

/// StickyAssignorTest.testAssignmentWithConflictingPreviousGenerations, different
/// subscriptions: consumer2 and consumer3 (generation 2) hold 6 each and consumer1
/// (generation 1) nothing it can keep; topic's partitions go back to consumer1, their
/// previous-generation owner, since the newer owners have two more.
#[test]
fn partitions_return_to_their_previous_generation_owner_when_that_restores_balance() {
    let topics = [("topic", 4), ("topic2", 4), ("topic3", 4)];
    let c1: &[(&str, i32)] = &[("topic", 0), ("topic", 1), ("topic", 2), ("topic", 3)];
    let c2: &[(&str, i32)] = &[
        ("topic", 0),
        ("topic", 1),
        ("topic2", 0),
        ("topic2", 1),
        ("topic2", 2),
        ("topic2", 3),
    ];
    let c3: &[(&str, i32)] = &[
        ("topic", 2),
        ("topic", 3),
        ("topic3", 0),
        ("topic3", 1),
        ("topic3", 2),
        ("topic3", 3),
    ];
    let a = run(
        "sticky",
        &topics,
        &[
            ("consumer1", 1, &["topic"], c1),
            ("consumer2", 2, &["topic", "topic2"], c2),
            ("consumer3", 2, &["topic", "topic2", "topic3"], c3),
        ],
    );
    expect(
        a,
        &[
            ("consumer1", "topic-0 topic-1 topic-2 topic-3"),
            ("consumer2", "topic2-0 topic2-1 topic2-2 topic2-3"),
            ("consumer3", "topic3-0 topic3-1 topic3-2 topic3-3"),
        ],
    );
}

/// AbstractStickyAssignorTest.testTwoConsumersTwoTopicsSixPartitions (asserted by Kafka).
#[test]
fn two_members_on_two_topics_split_them_like_java() {
    let both: &[&str] = &["topic1", "topic2"];
    let a = run(
        "sticky",
        &[("topic1", 3), ("topic2", 3)],
        &[("consumer1", -1, both, &[]), ("consumer2", -1, both, &[])],
    );
    expect(
        a,
        &[
            ("consumer1", "topic1-0 topic1-2 topic2-1"),
            ("consumer2", "topic1-1 topic2-0 topic2-2"),
        ],
    );
}

/// AbstractStickyAssignorTest.testAddRemoveTwoConsumersTwoTopics, second round (asserted by
/// Kafka): members keep their claims sorted by partition number first (consumer1 keeps
/// topic1-0 and topic2-1, not topic1-0 and topic1-2). Cooperative-sticky withholds the three
/// partitions changing owner, as Kafka's partitionsTransferringOwnership says.
#[test]
fn members_keep_their_lowest_numbered_partitions_and_cooperative_withholds_the_rest() {
    let both: &[&str] = &["topic1", "topic2"];
    let members: &[Spec] = &[
        (
            "consumer1",
            1,
            both,
            &[("topic1", 0), ("topic1", 2), ("topic2", 1), ("topic2", 3)],
        ),
        (
            "consumer2",
            1,
            both,
            &[("topic1", 1), ("topic2", 0), ("topic2", 2)],
        ),
        ("consumer3", 1, both, &[]),
        ("consumer4", 1, both, &[]),
    ];
    let topics = [("topic1", 3), ("topic2", 4)];
    let kept = [
        ("consumer1", "topic1-0 topic2-1"),
        ("consumer2", "topic1-1 topic2-0"),
    ];
    let a = run("sticky", &topics, members);
    let mut want = kept.to_vec();
    want.extend([
        ("consumer3", "topic1-2 topic2-3"),
        ("consumer4", "topic2-2"),
    ]);
    expect(a, &want);
    let b = run("cooperative-sticky", &topics, members);
    let mut want = kept.to_vec();
    want.extend([("consumer3", ""), ("consumer4", "")]);
    expect(b, &want);
}

/// AbstractStickyAssignorTest.testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers
/// (asserted by Kafka): consumer1 and consumer2 both own two, only one may keep two. Java's
/// HashMap visits consumer2 first, so consumer2 keeps both and consumer1 gives up topic2-0.
#[test]
fn which_member_keeps_the_extra_partition_follows_javas_member_order() {
    let both: &[&str] = &["topic1", "topic2"];
    let a = run(
        "sticky",
        &[("topic1", 2), ("topic2", 2)],
        &[
            ("consumer1", 1, both, &[("topic1", 0), ("topic2", 0)]),
            ("consumer2", 1, both, &[("topic1", 1), ("topic2", 1)]),
            ("consumer3", 1, both, &[]),
        ],
    );
    expect(
        a,
        &[
            ("consumer1", "topic1-0"),
            ("consumer2", "topic1-1 topic2-1"),
            ("consumer3", "topic2-0"),
        ],
    );
}

/// StickyAssignorTest.testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimedByMultiple
/// ConsumersInSameGeneration (both variants, asserted by Kafka): topic-0, claimed by two
/// members of one generation, goes to the third; cooperative withholds it this round
/// (CooperativeStickyAssignorTest's version of the same scenario).
#[test]
fn a_partition_claimed_twice_in_one_generation_is_taken_from_both_claimants() {
    let t: &[&str] = &["topic"];
    let members: &[Spec] = &[
        ("consumer1", 1, t, &[("topic", 0), ("topic", 1)]),
        ("consumer2", 1, t, &[("topic", 0), ("topic", 2)]),
        ("consumer3", 1, t, &[]),
    ];
    let a = run("sticky", &[("topic", 3)], members);
    expect(
        a,
        &[
            ("consumer1", "topic-1"),
            ("consumer2", "topic-2"),
            ("consumer3", "topic-0"),
        ],
    );
    let b = run("sticky", &[("topic", 4)], members);
    expect(
        b,
        &[
            ("consumer1", "topic-1 topic-3"),
            ("consumer2", "topic-2"),
            ("consumer3", "topic-0"),
        ],
    );
    let c = run("cooperative-sticky", &[("topic", 3)], members);
    expect(
        c,
        &[
            ("consumer1", "topic-1"),
            ("consumer2", "topic-2"),
            ("consumer3", ""),
        ],
    );
}

/// AbstractStickyAssignorTest.testNoReassignmentOnCurrentMembers (asserted by Kafka for
/// consumer1): claims of generations 9, 8, 7 all stand; the newcomer gets what is left.
#[test]
fn claims_from_older_generations_stand_when_nobody_newer_contests_them() {
    let all: &[&str] = &["topic", "topic2", "topic3", "topic1"];
    let a = run(
        "sticky",
        &[("topic", 3), ("topic1", 3), ("topic2", 3), ("topic3", 3)],
        &[
            ("consumer1", -1, all, &[]),
            (
                "consumer2",
                9,
                all,
                &[("topic", 0), ("topic2", 0), ("topic1", 0)],
            ),
            (
                "consumer3",
                8,
                all,
                &[("topic3", 2), ("topic2", 2), ("topic1", 1)],
            ),
            (
                "consumer4",
                7,
                all,
                &[("topic3", 1), ("topic", 1), ("topic", 2)],
            ),
        ],
    );
    expect(
        a,
        &[
            ("consumer1", "topic1-2 topic2-1 topic3-0"),
            ("consumer2", "topic-0 topic1-0 topic2-0"),
            ("consumer3", "topic1-1 topic2-2 topic3-2"),
            ("consumer4", "topic-1 topic-2 topic3-1"),
        ],
    );
}

/// AbstractStickyAssignorTest.testOwnedPartitionsAreInvalidatedForConsumerWithStaleGeneration
/// (asserted by Kafka): both claim the same three; generation 10 beats generation 9.
#[test]
fn the_newest_generation_wins_a_partition_claimed_by_two_members() {
    let both: &[&str] = &["topic", "topic2"];
    let claim: &[(&str, i32)] = &[("topic", 0), ("topic", 2), ("topic2", 1)];
    let a = run(
        "sticky",
        &[("topic", 3), ("topic2", 3)],
        &[
            ("consumer1", 10, both, claim),
            ("consumer2", 9, both, claim),
        ],
    );
    expect(
        a,
        &[
            ("consumer1", "topic-0 topic-2 topic2-1"),
            ("consumer2", "topic-1 topic2-0 topic2-2"),
        ],
    );
}

/// StickyAssignor javadoc, example 1 (constrained path): C0..C2 on t0..t3 with two
/// partitions each; when C1 leaves, C0 and C2 keep theirs and C1's t0-1, t2-0, t3-1 are
/// dealt round robin to the two (both below the quota of four), C2 taking the last.
#[test]
fn sticky_matches_the_javadoc_example_for_equal_subscriptions_and_a_member_leaving() {
    let all: &[&str] = &["t0", "t1", "t2", "t3"];
    let topics = [("t0", 2), ("t1", 2), ("t2", 2), ("t3", 2)];
    let a = run(
        "sticky",
        &topics,
        &[
            ("C0", -1, all, &[]),
            ("C1", -1, all, &[]),
            ("C2", -1, all, &[]),
        ],
    );
    expect(
        a,
        &[
            ("C0", "t0-0 t1-1 t3-0"),
            ("C1", "t0-1 t2-0 t3-1"),
            ("C2", "t1-0 t2-1"),
        ],
    );
    let b = run(
        "sticky",
        &topics,
        &[
            ("C0", 1, all, &[("t0", 0), ("t1", 1), ("t3", 0)]),
            ("C2", 1, all, &[("t1", 0), ("t2", 1)]),
        ],
    );
    expect(
        b,
        &[("C0", "t0-0 t0-1 t1-1 t3-0"), ("C2", "t1-0 t2-0 t2-1 t3-1")],
    );
}

/// CooperativeStickyAssignor: partitions changing owner are assigned to nobody until their
/// owner has revoked them and rejoined.
#[test]
fn cooperative_sticky_hands_over_moving_partitions_one_rebalance_later() {
    let t: &[&str] = &["t"];
    let all: &[(&str, i32)] = &[("t", 0), ("t", 1), ("t", 2), ("t", 3)];
    let a = run(
        "cooperative-sticky",
        &[("t", 4)],
        &[("C0", 1, t, all), ("C1", -1, t, &[])],
    );
    expect(a, &[("C0", "t-0 t-1"), ("C1", "")]);
    let b = run(
        "cooperative-sticky",
        &[("t", 4)],
        &[("C0", 2, t, &[("t", 0), ("t", 1)]), ("C1", 2, t, &[])],
    );
    expect(b, &[("C0", "t-0 t-1"), ("C1", "t-2 t-3")]);
}

//! Sticky groups end to end: members subscribing to different topics (Java's general sticky
//! assignment) and eager `sticky` members, which revoke everything before rejoining and
//! so keep their partitions only through the user data the leader reads.

mod common;

use common::TestBroker;
use runnel_client::Consumer;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Tp = (String, i32);
type Seen = Arc<Mutex<(Vec<Tp>, Option<i32>)>>;

async fn broker(topics: &[(&str, i32)]) -> TestBroker {
    let b = TestBroker::start_with(&[
        ("group.initial.rebalance.delay.ms", "0"),
        ("group.min.session.timeout.ms", "500"),
    ])
    .await;
    let admin = b.admin().await;
    for (t, n) in topics {
        admin.create_topic(t, *n, &[]).await.unwrap();
    }
    b
}

async fn member(b: &TestBroker, strategy: &str, topics: &[&str]) -> Consumer {
    let pairs = [
        ("group.id", "g"),
        ("partition.assignment.strategy", strategy),
        ("heartbeat.interval.ms", "100"),
        ("session.timeout.ms", "3000"),
        ("max.poll.interval.ms", "5000"),
    ];
    let mut c = Consumer::connect(b.consumer_config(&pairs)).await.unwrap();
    c.subscribe(topics).unwrap();
    c
}

/// Polls every member in its own task until `done` holds for their assignments, all in one
/// generation (or 30 s pass); returns the members and their assignments.
async fn settle(
    members: Vec<Consumer>,
    done: impl Fn(&[Vec<Tp>]) -> bool,
) -> (Vec<Consumer>, Vec<Vec<Tp>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut seen: Vec<Seen> = Vec::new();
    let mut tasks = Vec::new();
    for mut c in members {
        let (s, stop) = (Seen::default(), stop.clone());
        seen.push(s.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                c.poll(Duration::from_millis(100)).await.unwrap();
                *s.lock().unwrap() = (c.assignment(), c.group_generation().map(|g| g.0));
            }
            c
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Vec::new();
    let mut ok = false;
    while Instant::now() < deadline && !ok {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now: Vec<(Vec<Tp>, Option<i32>)> =
            seen.iter().map(|s| s.lock().unwrap().clone()).collect();
        let generations: BTreeSet<Option<i32>> = now.iter().map(|x| x.1).collect();
        last = now.into_iter().map(|x| x.0).collect();
        ok = generations.len() == 1 && !generations.contains(&None) && done(&last);
    }
    stop.store(true, Ordering::SeqCst);
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    assert!(ok, "group did not settle: {last:?}");
    (out, last)
}

/// Every partition of `topics` is assigned, and to one member only.
fn covers_once(assigned: &[Vec<Tp>], topics: &[(&str, i32)]) -> bool {
    let all: Vec<&Tp> = assigned.iter().flatten().collect();
    let distinct: BTreeSet<&Tp> = all.iter().copied().collect();
    let want: BTreeSet<Tp> = topics
        .iter()
        .flat_map(|(t, n)| (0..*n).map(move |p| (t.to_string(), p)))
        .collect();
    all.len() == distinct.len() && distinct.into_iter().cloned().collect::<BTreeSet<_>>() == want
}

fn subset(a: &[Tp], b: &[Tp]) -> bool {
    a.iter().all(|tp| b.contains(tp))
}

#[tokio::test]
async fn cooperative_members_on_different_topics_share_every_partition_once_and_keep_theirs() {
    let topics = [("a", 4), ("b", 2)];
    let b = broker(&topics).await;
    let both = member(&b, "cooperative-sticky", &["a", "b"]).await;
    let only_a = member(&b, "cooperative-sticky", &["a"]).await;
    let (ms, before) = settle(vec![both, only_a], |x| {
        covers_once(x, &topics) && x[0].len() == 3 && x[1].len() == 3
    })
    .await;
    // Only the member subscribed to b can take b's partitions.
    assert!(before[0].contains(&("b".into(), 0)) && before[0].contains(&("b".into(), 1)));

    // A third member on `a` joins: it takes two, and the others only give up partitions.
    let mut ms = ms;
    ms.push(member(&b, "cooperative-sticky", &["a"]).await);
    let (mut ms, after) = settle(ms, |x| {
        covers_once(x, &topics) && x.iter().all(|a| a.len() == 2)
    })
    .await;
    assert!(subset(&after[0], &before[0]), "{before:?} -> {after:?}");
    assert!(subset(&after[1], &before[1]), "{before:?} -> {after:?}");

    // It leaves again: the two survivors keep what they had and share its partitions.
    ms.pop().unwrap().close().await;
    let (_ms, last) = settle(ms, |x| covers_once(x, &topics)).await;
    assert!(subset(&after[0], &last[0]), "{after:?} -> {last:?}");
    assert!(subset(&after[1], &last[1]), "{after:?} -> {last:?}");
}

#[tokio::test]
async fn eager_sticky_members_keep_their_partitions_across_a_rebalance_through_user_data() {
    let topics = [("t", 6)];
    let b = broker(&topics).await;
    let c1 = member(&b, "sticky", &["t"]).await;
    let c2 = member(&b, "sticky", &["t"]).await;
    let (mut ms, before) = settle(vec![c1, c2], |x| {
        covers_once(x, &topics) && x.iter().all(|a| a.len() == 3)
    })
    .await;
    // Eager members revoke everything before rejoining: only the user data tells the
    // leader who had what, and with it each keeps two of its three.
    ms.push(member(&b, "sticky", &["t"]).await);
    let (_ms, after) = settle(ms, |x| {
        covers_once(x, &topics) && x.iter().all(|a| a.len() == 2)
    })
    .await;
    assert!(subset(&after[0], &before[0]), "{before:?} -> {after:?}");
    assert!(subset(&after[1], &before[1]), "{before:?} -> {after:?}");
}

mod common;

use common::TestBroker;
use runnel_client::{Consumer, ConsumerRecord, Producer, ProducerRecord, RebalanceListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Tp = (String, i32);

async fn broker_with(topic: &str, partitions: i32, records: usize) -> TestBroker {
    let b = TestBroker::start_with(&[
        ("group.initial.rebalance.delay.ms", "0"),
        ("group.min.session.timeout.ms", "500"),
    ])
    .await;
    b.admin()
        .await
        .create_topic(topic, partitions, &[])
        .await
        .unwrap();
    let p = Producer::connect(b.producer_config(&[])).await.unwrap();
    for i in 0..records {
        p.send(
            ProducerRecord::new(topic)
                .partition(i as i32 % partitions)
                .value(format!("{i}")),
        )
        .await
        .unwrap();
    }
    b
}

async fn member(b: &TestBroker, group: &str, extra: &[(&str, &str)]) -> Consumer {
    let mut pairs = vec![
        ("group.id", group),
        ("heartbeat.interval.ms", "100"),
        ("session.timeout.ms", "3000"),
        ("max.poll.interval.ms", "5000"),
    ];
    pairs.extend_from_slice(extra);
    Consumer::connect(b.consumer_config(&pairs)).await.unwrap()
}

type Seen = Arc<Mutex<(Vec<Tp>, Option<i32>)>>;

/// Polls a member in its own task until `stop`, publishing its assignment and generation.
fn spawn_polling(
    mut c: Consumer,
    seen: Seen,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<(Consumer, Vec<ConsumerRecord>)> {
    tokio::spawn(async move {
        let mut recs = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            recs.extend(c.poll(Duration::from_millis(100)).await.unwrap());
            *seen.lock().unwrap() = (c.assignment(), c.group_generation().map(|g| g.0));
        }
        (c, recs)
    })
}

/// Polls both members concurrently until `done` holds for their assignments in one
/// generation (or 30 s pass).
async fn settle(
    ca: Consumer,
    cb: Consumer,
    done: impl Fn(&[Tp], &[Tp]) -> bool,
) -> (Consumer, Consumer, Vec<ConsumerRecord>, Vec<ConsumerRecord>) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (sa, sb): (Seen, Seen) = (Arc::default(), Arc::default());
    let ha = spawn_polling(ca, sa.clone(), stop.clone());
    let hb = spawn_polling(cb, sb.clone(), stop.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ok = false;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (x, y) = (sa.lock().unwrap().clone(), sb.lock().unwrap().clone());
        if done(&x.0, &y.0) && x.1.is_some() && x.1 == y.1 {
            ok = true;
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (ca, ra) = ha.await.unwrap();
    let (cb, rb) = hb.await.unwrap();
    assert!(
        ok,
        "group did not settle: {:?} / {:?}",
        ca.assignment(),
        cb.assignment()
    );
    (ca, cb, ra, rb)
}

async fn poll_until(c: &mut Consumer, n: usize) -> Vec<ConsumerRecord> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < n && Instant::now() < deadline {
        out.extend(c.poll(Duration::from_millis(200)).await.unwrap());
    }
    out
}

#[tokio::test]
async fn two_range_members_split_the_partitions_and_together_read_every_record_once() {
    let b = broker_with("t", 4, 40).await;
    let mut c1 = member(&b, "g", &[("partition.assignment.strategy", "range")]).await;
    let mut c2 = member(&b, "g", &[("partition.assignment.strategy", "range")]).await;
    c1.subscribe(&["t"]).unwrap();
    c2.subscribe(&["t"]).unwrap();
    let (mut c1, mut c2, mut r1, mut r2) =
        settle(c1, c2, |a, b| a.len() == 2 && b.len() == 2).await;
    let mut a = c1.assignment();
    a.extend(c2.assignment());
    a.sort();
    assert_eq!(a, (0..4).map(|p| ("t".to_string(), p)).collect::<Vec<_>>());
    let deadline = Instant::now() + Duration::from_secs(20);
    while r1.len() + r2.len() < 40 && Instant::now() < deadline {
        let (x, y) = tokio::join!(
            c1.poll(Duration::from_millis(100)),
            c2.poll(Duration::from_millis(100))
        );
        r1.extend(x.unwrap());
        r2.extend(y.unwrap());
    }
    // Records read before the split may be read again after it (at-least-once); each
    // member reads only its own partitions once settled.
    let mut values: Vec<String> = r1
        .iter()
        .chain(&r2)
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    values.sort();
    values.dedup();
    assert_eq!(values.len(), 40);
}

#[tokio::test]
async fn commits_carry_metadata_and_a_new_member_resumes_from_them() {
    let b = broker_with("t", 1, 10).await;
    let mut c = member(&b, "g", &[("enable.auto.commit", "false")]).await;
    c.subscribe(&["t"]).unwrap();
    let got = poll_until(&mut c, 4).await;
    assert!(got.len() >= 4);
    c.commit_offsets_sync(&[(("t".to_string(), 0), 4, Some("note".to_string()))])
        .await
        .unwrap();
    assert_eq!(
        c.committed(&[("t", 0)]).await.unwrap()[&("t".to_string(), 0)],
        (4, Some("note".to_string()))
    );
    let h = c
        .commit_async(&[(("t".to_string(), 0), 5, None)])
        .await
        .unwrap();
    h.await.unwrap().unwrap();
    c.close().await;
    let mut d = member(&b, "g", &[]).await;
    d.subscribe(&["t"]).unwrap();
    let got = poll_until(&mut d, 5).await;
    assert_eq!(got[0].offset, 5);
}

#[tokio::test]
async fn close_with_auto_commit_commits_positions_and_leaves_the_group() {
    let b = broker_with("t", 1, 6).await;
    let mut c = member(&b, "g", &[("auto.commit.interval.ms", "600000")]).await;
    c.subscribe(&["t"]).unwrap();
    assert_eq!(poll_until(&mut c, 6).await.len(), 6);
    c.close().await;
    let admin = b.admin().await;
    let offsets = admin.list_group_offsets("g").await.unwrap();
    assert_eq!(offsets[&("t".to_string(), 0)].0, 6);
    let d = admin.describe_groups(&["g"]).await.unwrap();
    assert_eq!(d[0].state, "Empty");
    assert!(d[0].members.is_empty());
}

#[tokio::test]
async fn auto_commit_commits_positions_every_interval() {
    let b = broker_with("t", 1, 3).await;
    let mut c = member(&b, "g", &[("auto.commit.interval.ms", "100")]).await;
    c.subscribe(&["t"]).unwrap();
    assert_eq!(poll_until(&mut c, 3).await.len(), 3);
    // No explicit commit: polling on, the positions are committed once an interval has passed.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        c.poll(Duration::from_millis(50)).await.unwrap();
        let committed = c.committed(&[("t", 0)]).await.unwrap();
        let committed = committed.get(&("t".to_string(), 0)).map(|c| c.0);
        if committed == Some(3) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "committed offset still {committed:?}, not 3, 10 s into polling"
        );
    }
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);
impl RebalanceListener for Log {
    fn on_partitions_revoked(&mut self, revoked: &[Tp]) -> Vec<(Tp, i64, Option<String>)> {
        self.0
            .lock()
            .unwrap()
            .push(format!("revoked {}", revoked.len()));
        revoked
            .iter()
            .map(|tp| (tp.clone(), 0, Some("from listener".into())))
            .collect()
    }
    fn on_partitions_assigned(&mut self, assigned: &[Tp]) {
        self.0
            .lock()
            .unwrap()
            .push(format!("assigned {}", assigned.len()));
    }
    fn on_partitions_lost(&mut self, lost: &[Tp]) {
        self.0.lock().unwrap().push(format!("lost {}", lost.len()));
    }
}

#[tokio::test]
async fn an_eager_rebalance_revokes_everything_commits_what_the_listener_returns_and_reassigns() {
    let b = broker_with("t", 4, 0).await;
    let log = Log::default();
    let mut c1 = member(
        &b,
        "g",
        &[
            ("partition.assignment.strategy", "range"),
            ("enable.auto.commit", "false"),
        ],
    )
    .await;
    c1.subscribe_with_listener(&["t"], Box::new(log.clone()))
        .unwrap();
    poll_until(&mut c1, 0).await;
    c1.poll(Duration::from_millis(100)).await.unwrap();
    assert_eq!(c1.assignment().len(), 4);
    let mut c2 = member(&b, "g", &[("partition.assignment.strategy", "range")]).await;
    c2.subscribe(&["t"]).unwrap();
    let (mut c1, _c2, _, _) = settle(c1, c2, |a, b| a.len() == 2 && b.len() == 2).await;
    assert_eq!(
        *log.0.lock().unwrap(),
        vec!["assigned 4", "revoked 4", "assigned 2"]
    );
    let committed = c1.committed(&[("t", 3)]).await.unwrap();
    assert_eq!(
        committed[&("t".to_string(), 3)],
        (0, Some("from listener".into()))
    );
}

#[tokio::test]
async fn cooperative_sticky_revokes_only_the_partitions_that_move() {
    let b = broker_with("t", 4, 0).await;
    let log = Log::default();
    let mut c1 = member(
        &b,
        "g",
        &[
            ("partition.assignment.strategy", "cooperative-sticky"),
            ("enable.auto.commit", "false"),
        ],
    )
    .await;
    c1.subscribe_with_listener(&["t"], Box::new(log.clone()))
        .unwrap();
    c1.poll(Duration::from_millis(100)).await.unwrap();
    let before = c1.assignment();
    assert_eq!(before.len(), 4);
    let mut c2 = member(
        &b,
        "g",
        &[("partition.assignment.strategy", "cooperative-sticky")],
    )
    .await;
    c2.subscribe(&["t"]).unwrap();
    let (c1, _c2, _, _) = settle(c1, c2, |a, b| a.len() == 2 && b.len() == 2).await;
    // c1 kept two of its partitions throughout and gave up exactly the two that moved.
    assert!(c1.assignment().iter().all(|tp| before.contains(tp)));
    let events = log.0.lock().unwrap().clone();
    assert_eq!(events[0], "assigned 4");
    assert!(events.contains(&"revoked 2".to_string()), "{events:?}");
    assert!(!events.contains(&"revoked 4".to_string()), "{events:?}");
}

#[tokio::test]
async fn a_static_member_that_restarts_gets_its_partitions_back() {
    let b = broker_with("t", 4, 0).await;
    let mut c1 = member(
        &b,
        "g",
        &[
            ("group.instance.id", "one"),
            ("partition.assignment.strategy", "range"),
        ],
    )
    .await;
    let mut c2 = member(
        &b,
        "g",
        &[
            ("group.instance.id", "two"),
            ("partition.assignment.strategy", "range"),
        ],
    )
    .await;
    c1.subscribe(&["t"]).unwrap();
    c2.subscribe(&["t"]).unwrap();
    let (c1, mut c2, _, _) = settle(c1, c2, |a, b| a.len() == 2 && b.len() == 2).await;
    let mine = c1.assignment();
    let (generation, _) = c2.group_generation().unwrap();
    c1.close().await;
    // Static membership: close does not leave, so the group does not rebalance...
    let d = b.admin().await.describe_groups(&["g"]).await.unwrap();
    assert_eq!(d[0].members.len(), 2);
    // ...and the restarted member with the same group.instance.id gets the same partitions.
    let mut again = member(
        &b,
        "g",
        &[
            ("group.instance.id", "one"),
            ("partition.assignment.strategy", "range"),
        ],
    )
    .await;
    again.subscribe(&["t"]).unwrap();
    again.poll(Duration::from_millis(200)).await.unwrap();
    assert_eq!(again.assignment(), mine);
    c2.poll(Duration::from_millis(300)).await.unwrap();
    assert_eq!(c2.group_generation().unwrap().0, generation);
}

#[tokio::test]
async fn exceeding_max_poll_interval_leaves_the_group_and_the_next_poll_rejoins() {
    let b = broker_with("t", 2, 0).await;
    let log = Log::default();
    let mut c = member(
        &b,
        "g",
        &[
            ("max.poll.interval.ms", "800"),
            ("enable.auto.commit", "false"),
        ],
    )
    .await;
    c.subscribe_with_listener(&["t"], Box::new(log.clone()))
        .unwrap();
    // max.poll.interval.ms runs from the start of the last poll call.
    let last_poll = Instant::now();
    c.poll(Duration::from_millis(100)).await.unwrap();
    let (g1, _) = c.group_generation().unwrap();
    // Without polling, the member's heartbeat task leaves the group once 800 ms pass.
    let admin = b.admin().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !admin.describe_groups(&["g"]).await.unwrap()[0]
        .members
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "still a member 15 s past max.poll.interval.ms"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        last_poll.elapsed() >= Duration::from_millis(800),
        "left after {:?}, before max.poll.interval.ms",
        last_poll.elapsed()
    );
    c.poll(Duration::from_millis(100)).await.unwrap();
    c.poll(Duration::from_millis(100)).await.unwrap();
    let (g2, _) = c.group_generation().unwrap();
    assert!(g2 > g1);
    assert_eq!(c.assignment().len(), 2);
    assert!(log.0.lock().unwrap().contains(&"lost 2".to_string()));
}

#[tokio::test]
async fn heartbeats_keep_a_member_that_polls_rarely_beyond_the_session_timeout() {
    let b = broker_with("t", 1, 0).await;
    let mut c = member(
        &b,
        "g",
        &[
            ("session.timeout.ms", "600"),
            ("heartbeat.interval.ms", "100"),
        ],
    )
    .await;
    c.subscribe(&["t"]).unwrap();
    c.poll(Duration::from_millis(100)).await.unwrap();
    let g1 = c.group_generation().unwrap();
    // The subject is time passing without a poll: 2.5 session timeouts, heartbeats only. No
    // event marks "the session would have expired by now", so this waits out the time itself.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let d = b.admin().await.describe_groups(&["g"]).await.unwrap();
    assert_eq!(d[0].members.len(), 1);
    c.poll(Duration::from_millis(100)).await.unwrap();
    assert_eq!(c.group_generation().unwrap(), g1);
}

#[tokio::test]
async fn a_regex_subscription_picks_up_matching_topics_as_they_appear() {
    let b = broker_with("logs-a", 2, 0).await;
    let admin = b.admin().await;
    admin.create_topic("other", 1, &[]).await.unwrap();
    let mut c = member(&b, "g", &[("metadata.max.age.ms", "300")]).await;
    c.subscribe_pattern("logs-.*", None).unwrap();
    c.poll(Duration::from_millis(100)).await.unwrap();
    assert_eq!(
        c.assignment(),
        vec![("logs-a".to_string(), 0), ("logs-a".to_string(), 1)]
    );
    admin.create_topic("logs-b", 1, &[]).await.unwrap();
    admin.create_topic("xlogs-c", 1, &[]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.assignment().len() < 3 && Instant::now() < deadline {
        c.poll(Duration::from_millis(100)).await.unwrap();
    }
    let topics: std::collections::BTreeSet<String> =
        c.assignment().into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        topics.into_iter().collect::<Vec<_>>(),
        vec!["logs-a", "logs-b"]
    );
}

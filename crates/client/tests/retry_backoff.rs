//! `retry.backoff.ms` and `retry.backoff.max.ms`, through a proxy that answers requests with a
//! retriable error and notes when each attempt arrived. Gaps between attempts are only ever
//! asserted from below (a timer never fires early) or against a much larger bound.

mod common;

use common::proxy::{Event, LeaderProxy};
use common::TestBroker;
use kafka_protocol::messages::ApiKey;
use runnel_client::{
    ClientError, Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord,
};
use std::time::Duration;

/// NOT_ENOUGH_REPLICAS: retriable, and no reason to refresh metadata.
const NOT_ENOUGH_REPLICAS: i16 = 19;
/// COORDINATOR_NOT_AVAILABLE.
const COORDINATOR_NOT_AVAILABLE: i16 = 15;

async fn setup() -> (TestBroker, LeaderProxy) {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    let proxy = LeaderProxy::start(b.addr).await;
    (b, proxy)
}

async fn producer(proxy: &LeaderProxy, pairs: &[(&str, &str)]) -> Producer {
    let bootstrap = proxy.bootstrap();
    let mut all = vec![
        ("bootstrap.servers", bootstrap.as_str()),
        ("linger.ms", "0"),
    ];
    all.extend_from_slice(pairs);
    Producer::connect(ProducerConfig::from_pairs(&all).unwrap())
        .await
        .unwrap()
}

fn attempts(proxy: &LeaderProxy, api: ApiKey) -> Vec<Event> {
    proxy
        .events()
        .into_iter()
        .filter(|e| e.api == api as i16)
        .collect()
}

fn gaps(events: &[Event]) -> Vec<Duration> {
    events.windows(2).map(|w| w[1].at - w[0].at).collect()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn produce_retries_wait_retry_backoff_ms_doubling_up_to_retry_backoff_max_ms() {
    let (_b, proxy) = setup().await;
    proxy.fail_next(ApiKey::Produce, NOT_ENOUGH_REPLICAS, 5);
    let p = producer(
        &proxy,
        &[("retry.backoff.ms", "200"), ("retry.backoff.max.ms", "800")],
    )
    .await;
    let m = p.send(ProducerRecord::new("t").value("v")).await.unwrap();
    assert_eq!(m.offset, 0);

    let tries = attempts(&proxy, ApiKey::Produce);
    let answered: Vec<Option<i16>> = tries.iter().map(|e| e.answered).collect();
    let mut want = vec![Some(NOT_ENOUGH_REPLICAS); 5];
    want.push(None);
    assert_eq!(
        answered, want,
        "five refusals, then the attempt that landed"
    );
    let g = gaps(&tries);
    // 200, 400, 800, then capped at 800 (uncapped: 1600, 3200).
    let at_least = [200, 400, 800, 800, 800].map(ms);
    for (i, (got, min)) in g.iter().zip(at_least).enumerate() {
        assert!(*got >= min, "gap {i} was {got:?}, below {min:?}: {g:?}");
    }
    assert!(
        g[3] < ms(1600) && g[4] < ms(1600),
        "the backoff kept doubling past retry.backoff.max.ms: {g:?}"
    );
}

#[tokio::test]
async fn a_larger_retry_backoff_ms_makes_far_fewer_produce_attempts_before_delivery_timeout() {
    let (b, fast_proxy) = setup().await;
    let slow_proxy = LeaderProxy::start(b.addr).await;
    for proxy in [&fast_proxy, &slow_proxy] {
        proxy.fail_next(ApiKey::Produce, NOT_ENOUGH_REPLICAS, usize::MAX);
    }
    let timeouts = [
        ("request.timeout.ms", "1000"),
        ("delivery.timeout.ms", "2000"),
    ];
    let fast = producer(
        &fast_proxy,
        &[
            timeouts[0],
            timeouts[1],
            ("retry.backoff.ms", "10"),
            ("retry.backoff.max.ms", "10"),
        ],
    )
    .await;
    let slow = producer(
        &slow_proxy,
        &[
            timeouts[0],
            timeouts[1],
            ("retry.backoff.ms", "500"),
            ("retry.backoff.max.ms", "500"),
        ],
    )
    .await;
    let (f, s) = tokio::join!(
        fast.send(ProducerRecord::new("t").value("f")),
        slow.send(ProducerRecord::new("t").value("s"))
    );
    for e in [f.unwrap_err(), s.unwrap_err()] {
        assert!(matches!(e, ClientError::DeliveryTimeout { .. }), "{e}");
        assert!(e.to_string().contains("NotEnoughReplicas"), "{e}");
    }
    let fast_tries = attempts(&fast_proxy, ApiKey::Produce).len();
    let slow_tries = attempts(&slow_proxy, ApiKey::Produce).len();
    // 2 s at 500 ms apart is at most 5 attempts; at 10 ms apart it is dozens.
    assert!(slow_tries <= 5, "{slow_tries} attempts 500 ms apart in 2 s");
    assert!(
        fast_tries >= 20 && fast_tries >= 4 * slow_tries,
        "fast {fast_tries}, slow {slow_tries}"
    );
}

async fn find_coordinator_gaps(b: &TestBroker, backoff: &str) -> Vec<Duration> {
    let proxy = LeaderProxy::start(b.addr).await;
    proxy.fail_next(ApiKey::FindCoordinator, COORDINATOR_NOT_AVAILABLE, 3);
    let cfg = ConsumerConfig::from_pairs(&[
        ("bootstrap.servers", &proxy.bootstrap()),
        ("group.id", "g"),
        ("retry.backoff.ms", backoff),
    ])
    .unwrap();
    let mut c = Consumer::connect(cfg).await.unwrap();
    let committed = c.committed(&[("t", 0)]).await.unwrap();
    assert!(committed.values().all(|(o, _)| *o < 0), "{committed:?}");
    let tries = attempts(&proxy, ApiKey::FindCoordinator);
    let answered: Vec<Option<i16>> = tries.iter().map(|e| e.answered).collect();
    let mut want = vec![Some(COORDINATOR_NOT_AVAILABLE); 3];
    want.push(None);
    assert_eq!(answered, want);
    gaps(&tries)
}

#[tokio::test]
async fn the_consumer_waits_retry_backoff_ms_between_find_coordinator_attempts() {
    let (b, _proxy) = setup().await;
    let (slow, fast) = tokio::join!(
        find_coordinator_gaps(&b, "400"),
        find_coordinator_gaps(&b, "10")
    );
    assert!(slow.iter().all(|g| *g >= ms(400)), "{slow:?}");
    assert!(fast.iter().all(|g| *g < ms(400)), "{fast:?}");
}

/// Fetch attempts a consumer makes in `window` while every Fetch is answered with
/// NOT_LEADER_OR_FOLLOWER and metadata keeps naming the same leader.
async fn fetch_attempts_while_refused(b: &TestBroker, backoff: &str, window: Duration) -> usize {
    let proxy = LeaderProxy::start(b.addr).await;
    proxy.fail_next(ApiKey::Fetch, NOT_LEADER_OR_FOLLOWER, usize::MAX);
    let cfg = ConsumerConfig::from_pairs(&[
        ("bootstrap.servers", &proxy.bootstrap()),
        ("auto.offset.reset", "earliest"),
        ("retry.backoff.ms", backoff),
    ])
    .unwrap();
    let mut c = Consumer::connect(cfg).await.unwrap();
    c.assign(&[("t", 0)]).await.unwrap();
    let until = std::time::Instant::now() + window;
    while std::time::Instant::now() < until {
        let got = c.poll(ms(100)).await.unwrap();
        assert!(got.is_empty(), "every fetch is refused");
    }
    attempts(&proxy, ApiKey::Fetch).len()
}

/// NOT_LEADER_OR_FOLLOWER: retriable, and a reason to refresh metadata.
const NOT_LEADER_OR_FOLLOWER: i16 = 6;

#[tokio::test]
async fn the_consumer_waits_retry_backoff_ms_before_fetching_a_refused_partition_again() {
    let (b, _proxy) = setup().await;
    let window = ms(2000);
    let (slow, fast) = tokio::join!(
        fetch_attempts_while_refused(&b, "500", window),
        fetch_attempts_while_refused(&b, "10", window)
    );
    // 2 s at 500 ms apart is at most 5 attempts (plus one at the start).
    assert!(slow <= 6, "{slow} fetches 500 ms apart in 2 s");
    assert!(fast >= 20 && fast >= 4 * slow, "fast {fast}, slow {slow}");
}

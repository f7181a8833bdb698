//! ApiVersions v3+ features (what `kafka-features describe` shows): Kafka 4.x's feature names at
//! the levels Runnel implements, none finalized; v3 clients get no level-0 ranges, as from Kafka.

mod common;

use common::TestBroker;
use kafka_protocol::messages::ApiVersionsRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_v4_names_the_features_at_level_zero_and_v3_leaves_them_out() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    let v4 = c.send(&ApiVersionsRequest::default(), 4).await;
    let features: Vec<(String, i16, i16)> = v4
        .supported_features
        .iter()
        .map(|f| (f.name.to_string(), f.min_version, f.max_version))
        .collect();
    let names: Vec<&str> = features.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "eligible.leader.replicas.version",
            "group.version",
            "kraft.version",
            "share.version",
            "streams.version",
            "transaction.version"
        ]
    );
    assert!(
        features.iter().all(|&(_, min, max)| min == 0 && max == 0),
        "{features:?}"
    );
    assert!(
        v4.finalized_features.is_empty(),
        "{:?}",
        v4.finalized_features
    );
    assert_eq!(v4.finalized_features_epoch, 0);

    let v3 = c.send(&ApiVersionsRequest::default(), 3).await;
    assert!(
        v3.supported_features.is_empty(),
        "{:?}",
        v3.supported_features
    );
    broker.shutdown().await;
}

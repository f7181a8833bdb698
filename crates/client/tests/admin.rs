mod common;

use common::TestBroker;
use runnel_client::admin::OffsetSpec;
use runnel_client::{ConfigResource, NewTopic, Producer, ProducerRecord};

#[tokio::test]
async fn topics_are_created_listed_described_grown_and_deleted() {
    let b = TestBroker::start().await;
    let admin = b.admin().await;
    admin
        .create_topics(&[NewTopic::new("a", 3), NewTopic::new("b", 1)])
        .await
        .unwrap();
    assert_eq!(admin.list_topics(false).await.unwrap(), vec!["a", "b"]);
    let d = admin.describe_topics(&["a"]).await.unwrap();
    assert_eq!(d[0].partitions.len(), 3);
    let node = admin.describe_cluster().await.unwrap().brokers[0].node_id;
    assert!(d[0].partitions.iter().all(|p| p.leader == node));
    admin.create_partitions("a", 5).await.unwrap();
    assert_eq!(
        admin.describe_topics(&["a"]).await.unwrap()[0]
            .partitions
            .len(),
        5
    );
    admin.delete_topics(&["a"]).await.unwrap();
    assert_eq!(admin.list_topics(false).await.unwrap(), vec!["b"]);
}

#[tokio::test]
async fn creating_an_existing_topic_fails_with_topic_already_exists() {
    let b = TestBroker::start().await;
    let admin = b.admin().await;
    admin.create_topic("t", 1, &[]).await.unwrap();
    let e = admin.create_topic("t", 1, &[]).await.unwrap_err();
    assert_eq!(e.code(), Some(36), "{e}");
}

#[tokio::test]
async fn describing_an_unknown_topic_fails_with_unknown_topic_or_partition() {
    let b = TestBroker::start().await;
    let e = b
        .admin()
        .await
        .describe_topics(&["nope"])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(3), "{e}");
    assert!(e.to_string().contains("UnknownTopicOrPartition"), "{e}");
}

#[tokio::test]
async fn topic_configs_are_described_altered_and_removed() {
    let b = TestBroker::start().await;
    let admin = b.admin().await;
    admin
        .create_topic("t", 1, &[("retention.ms", "1000")])
        .await
        .unwrap();
    let res = ConfigResource::Topic("t".into());
    let get =
        |c: &[runnel_client::ConfigEntry], k: &str| c.iter().find(|e| e.name == k).unwrap().clone();
    let c = admin.describe_configs(&res).await.unwrap();
    assert_eq!(get(&c, "retention.ms").value.as_deref(), Some("1000"));
    assert!(!get(&c, "retention.ms").is_default());
    admin
        .alter_configs(
            &res,
            &[
                ("retention.ms", Some("2000")),
                ("cleanup.policy", Some("compact")),
            ],
        )
        .await
        .unwrap();
    let c = admin.describe_configs(&res).await.unwrap();
    assert_eq!(get(&c, "retention.ms").value.as_deref(), Some("2000"));
    assert_eq!(get(&c, "cleanup.policy").value.as_deref(), Some("compact"));
    admin
        .alter_configs(&res, &[("retention.ms", None)])
        .await
        .unwrap();
    let c = admin.describe_configs(&res).await.unwrap();
    assert!(get(&c, "retention.ms").is_default());
    let node = admin.describe_cluster().await.unwrap().brokers[0].node_id;
    let broker = admin
        .describe_configs(&ConfigResource::Broker(node))
        .await
        .unwrap();
    assert!(broker
        .iter()
        .any(|e| e.name == "log.retention.ms" || e.name == "num.partitions"));
}

#[tokio::test]
async fn list_offsets_finds_earliest_latest_and_by_timestamp() {
    let b = TestBroker::start().await;
    let admin = b.admin().await;
    admin.create_topic("t", 1, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[])).await.unwrap();
    let now = runnel_client::producer::now_ms();
    for i in 0..5 {
        p.send(
            ProducerRecord::new("t")
                .value(format!("v{i}"))
                .timestamp(now - 1000 + i * 100),
        )
        .await
        .unwrap();
    }
    assert_eq!(
        admin.list_offsets("t", OffsetSpec::Earliest).await.unwrap()[&0].offset,
        0
    );
    assert_eq!(
        admin.list_offsets("t", OffsetSpec::Latest).await.unwrap()[&0].offset,
        5
    );
    let at = admin
        .list_offsets("t", OffsetSpec::Timestamp(now - 1000 + 250))
        .await
        .unwrap()[&0];
    assert_eq!(at.offset, 3);
    let none = admin
        .list_offsets("t", OffsetSpec::Timestamp(now + 60_000))
        .await
        .unwrap()[&0];
    assert_eq!(none.offset, -1);
}

#[tokio::test]
async fn describe_cluster_names_the_broker_and_controller() {
    let b = TestBroker::start().await;
    let d = b.admin().await.describe_cluster().await.unwrap();
    assert_eq!(d.controller, d.brokers[0].node_id);
    assert_eq!(d.brokers.len(), 1);
    assert_eq!(d.brokers[0].port as u16, b.addr.port());
    assert!(!d.cluster_id.is_empty());
}

#[tokio::test]
async fn an_unreachable_bootstrap_server_is_a_connect_error() {
    let e = runnel_client::Admin::connect_to("127.0.0.1:1")
        .await
        .err()
        .unwrap();
    assert!(
        matches!(e, runnel_client::ClientError::Connect { .. }),
        "{e}"
    );
}

#[tokio::test]
async fn api_versions_are_negotiated_as_min_of_client_and_broker_max() {
    use kafka_protocol::messages::ApiKey;
    let b = TestBroker::start().await;
    let admin = b.admin().await;
    let c = admin.cluster().any().await.unwrap();
    // Runnel: Fetch up to 12, client 12; Produce broker 12, client 11; Metadata both 12.
    assert_eq!(c.version(ApiKey::Fetch).unwrap(), 12);
    assert_eq!(c.version(ApiKey::Produce).unwrap(), 11);
    assert_eq!(c.version(ApiKey::ListOffsets).unwrap(), 7);
    assert!(c.version(ApiKey::SaslHandshake).is_err());
}

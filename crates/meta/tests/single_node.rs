mod support;

use std::collections::BTreeMap;

use runnel_meta::{
    Applied, Command, CommandError, Endpoint, MetaConfig, MetadataQuorum, PartitionChange,
    ProposeError, RaftQuorum,
};
use support::{fast, free_port, wait_image, wait_status};
use uuid::Uuid;

fn one_node_config(dir: &std::path::Path) -> MetaConfig {
    let voters = BTreeMap::from([(1, format!("127.0.0.1:{}", free_port()))]);
    let mut config = fast(MetaConfig::new(1, voters, dir.to_path_buf()));
    config.snapshot_interval_entries = 10;
    config
}

async fn start_leader(config: &MetaConfig) -> RaftQuorum {
    let node = RaftQuorum::start(config.clone()).await.expect("start");
    wait_status(&node, |s| s.is_leader()).await;
    node
}

fn topic(name: &str, partitions: usize) -> Command {
    Command::CreateTopic {
        name: name.to_string(),
        topic_id: Uuid::new_v4(),
        configs: BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]),
        assignments: vec![vec![1]; partitions],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_node_quorum_commits_and_restarts_to_the_same_image() {
    let dir = tempfile::tempdir().unwrap();
    let config = one_node_config(dir.path());
    let node = start_leader(&config).await;
    node.propose(Command::SetClusterId {
        cluster_id: "runnel-test".into(),
    })
    .await
    .unwrap();
    let registered = node
        .propose(Command::RegisterBroker {
            broker_id: 1,
            incarnation_id: Uuid::new_v4(),
            endpoints: vec![Endpoint {
                name: "PLAINTEXT".into(),
                host: "localhost".into(),
                port: 9092,
                security_protocol: "PLAINTEXT".into(),
            }],
            rack: Some("r1".into()),
        })
        .await
        .unwrap();
    let Applied::BrokerRegistered { broker_epoch } = registered else {
        panic!("{registered:?}")
    };
    // Enough entries to pass the snapshot interval twice, so the restart reads a snapshot and
    // replays only the log after it.
    for i in 0..25 {
        node.propose(topic(&format!("t{i}"), 2)).await.unwrap();
    }
    node.propose(Command::AllocateProducerIds {
        broker_id: 1,
        expected_broker_epoch: broker_epoch,
    })
    .await
    .unwrap();
    let before = node.image();
    assert_eq!(before.topics().count(), 25);
    assert_eq!(before.broker(1).map(|b| b.broker_epoch), Some(broker_epoch));
    assert!(
        dir.path().join("image-snapshot").exists(),
        "a snapshot was written"
    );
    node.shutdown().await;
    drop(node);

    let node = RaftQuorum::start(config.clone()).await.expect("restart");
    let after = wait_image(&node, |image| {
        image.last_applied_index() >= before.last_applied_index()
    })
    .await;
    assert_eq!(*after, *before, "the restarted image equals the one before");
    // And it keeps committing after the restart.
    let next = node
        .propose(Command::AllocateProducerIds {
            broker_id: 1,
            expected_broker_epoch: broker_epoch,
        })
        .await;
    let Ok(Applied::ProducerIds(block)) = next else {
        panic!("{next:?}")
    };
    assert_eq!(block.first_producer_id, before.next_producer_id());
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_set_with_a_stale_epoch_is_rejected_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_leader(&one_node_config(dir.path())).await;
    let create = Command::CreateTopic {
        name: "orders".into(),
        topic_id: Uuid::new_v4(),
        configs: BTreeMap::new(),
        assignments: vec![vec![1, 2, 3]],
    };
    let Applied::TopicCreated { topic_id } = node.propose(create).await.unwrap() else {
        panic!()
    };
    let change =
        |expected_partition_epoch, expected_leader_epoch, leader| Command::ChangePartition {
            topic_id,
            partition: 0,
            expected_partition_epoch,
            expected_leader_epoch,
            change: PartitionChange {
                leader: Some(leader),
                isr: vec![2, 3],
                replicas: None,
            },
        };
    let applied = node.propose(change(0, 0, 2)).await.unwrap();
    assert_eq!(
        applied,
        Applied::PartitionChanged {
            leader_epoch: 1,
            partition_epoch: 1
        }
    );
    let before = node.image();

    let stale_partition = node.propose(change(0, 1, 3)).await;
    assert_eq!(
        stale_partition,
        Err(ProposeError::Rejected(CommandError::StalePartitionEpoch {
            expected: 0,
            current: 1
        }))
    );
    let stale_leader = node.propose(change(1, 0, 3)).await;
    assert_eq!(
        stale_leader,
        Err(ProposeError::Rejected(CommandError::StaleLeaderEpoch {
            expected: 0,
            current: 1
        }))
    );
    let stale_broker = node
        .propose(Command::FenceBroker {
            broker_id: 9,
            expected_broker_epoch: 1,
        })
        .await;
    assert_eq!(
        stale_broker,
        Err(ProposeError::Rejected(CommandError::UnknownBroker(9)))
    );

    let after = node.image();
    let partition = &after.topic(&topic_id).unwrap().partitions[0];
    assert_eq!(
        (partition.leader(), partition.isr()),
        (Some(2), &[2, 3][..]),
        "refused changes left the partition"
    );
    assert_eq!(after.topic(&topic_id), before.topic(&topic_id));
    node.shutdown().await;
}

//! Property: random command sequences on a one-node quorum, with restarts (some after a torn
//! write at the log's tail), give an image equal to a simple model's, and every command is
//! accepted or refused exactly as the model says.

mod support;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use proptest::prelude::*;
use runnel_meta::{
    Applied, Command, ConfigResource, Image, MetaConfig, MetadataQuorum, PartitionChange,
    RaftQuorum, PRODUCER_ID_BLOCK_SIZE,
};
use support::{fast, free_port, wait_image, wait_status};
use uuid::Uuid;

#[derive(Debug, Clone)]
enum Op {
    CreateTopic {
        name: u8,
        partitions: u8,
    },
    DeleteTopic {
        name: u8,
    },
    SetTopicConfig {
        name: u8,
        key: u8,
        value: Option<u8>,
    },
    SetClusterConfig {
        key: u8,
        value: Option<u8>,
    },
    RegisterBroker {
        broker: i32,
        new_incarnation: bool,
    },
    Fence {
        broker: i32,
        fence: bool,
        stale: bool,
    },
    AllocateProducerIds {
        broker: i32,
        stale: bool,
    },
    MoveLeader {
        name: u8,
        stale: bool,
    },
    /// `Some(short)`: a torn write is left at the tail first (a short header, or a whole
    /// entry with a bad checksum).
    Restart {
        torn: Option<bool>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..4u8, 1..4u8).prop_map(|(name, partitions)| Op::CreateTopic { name, partitions }),
        1 => (0..4u8).prop_map(|name| Op::DeleteTopic { name }),
        2 => (0..4u8, 0..2u8, proptest::option::of(0..3u8)).prop_map(|(name, key, value)| Op::SetTopicConfig { name, key, value }),
        1 => (0..2u8, proptest::option::of(0..3u8)).prop_map(|(key, value)| Op::SetClusterConfig { key, value }),
        2 => (0..3i32, any::<bool>()).prop_map(|(broker, new_incarnation)| Op::RegisterBroker { broker, new_incarnation }),
        2 => (0..3i32, any::<bool>(), any::<bool>()).prop_map(|(broker, fence, stale)| Op::Fence { broker, fence, stale }),
        2 => (0..3i32, any::<bool>()).prop_map(|(broker, stale)| Op::AllocateProducerIds { broker, stale }),
        3 => (0..4u8, any::<bool>()).prop_map(|(name, stale)| Op::MoveLeader { name, stale }),
        1 => proptest::option::of(any::<bool>()).prop_map(|torn| Op::Restart { torn }),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ModelTopic {
    id: Uuid,
    /// (leader, leader epoch, partition epoch) per partition; replicas are always [0, 1, 2].
    partitions: Vec<(i32, i32, i32)>,
    configs: BTreeMap<String, String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Model {
    topics: BTreeMap<String, ModelTopic>,
    /// id -> (incarnation, epoch, fenced)
    brokers: BTreeMap<i32, (Uuid, i64, bool)>,
    cluster_configs: BTreeMap<String, String>,
    next_producer_id: i64,
}

const REPLICAS: [i32; 3] = [0, 1, 2];

impl Model {
    /// The command for `op`, and whether the model expects it to be accepted.
    fn command(&self, op: &Op) -> (Command, bool) {
        let name = |n: &u8| format!("t{n}");
        match op {
            Op::CreateTopic {
                name: n,
                partitions,
            } => {
                let command = Command::CreateTopic {
                    name: name(n),
                    topic_id: Uuid::new_v4(),
                    configs: BTreeMap::new(),
                    assignments: vec![REPLICAS.to_vec(); usize::from(*partitions)],
                };
                (command, !self.topics.contains_key(&name(n)))
            }
            Op::DeleteTopic { name: n } => {
                let topic_id = self
                    .topics
                    .get(&name(n))
                    .map_or_else(Uuid::new_v4, |t| t.id);
                (
                    Command::DeleteTopic { topic_id },
                    self.topics.contains_key(&name(n)),
                )
            }
            Op::SetTopicConfig {
                name: n,
                key,
                value,
            } => {
                let command = Command::SetConfig {
                    resource: ConfigResource::Topic(name(n)),
                    key: format!("k{key}"),
                    value: value.map(|v| format!("v{v}")),
                };
                (command, self.topics.contains_key(&name(n)))
            }
            Op::SetClusterConfig { key, value } => {
                let command = Command::SetConfig {
                    resource: ConfigResource::ClusterDefault,
                    key: format!("k{key}"),
                    value: value.map(|v| format!("v{v}")),
                };
                (command, true)
            }
            Op::RegisterBroker {
                broker,
                new_incarnation,
            } => {
                let incarnation_id = match self.brokers.get(broker) {
                    Some((incarnation, _, _)) if !new_incarnation => *incarnation,
                    _ => Uuid::new_v4(),
                };
                let command = Command::RegisterBroker {
                    broker_id: *broker,
                    incarnation_id,
                    endpoints: vec![],
                    rack: None,
                };
                (command, true)
            }
            Op::Fence {
                broker,
                fence,
                stale,
            } => {
                let (epoch, known) = self.broker_epoch(*broker, *stale);
                let command = if *fence {
                    Command::FenceBroker {
                        broker_id: *broker,
                        expected_broker_epoch: epoch,
                    }
                } else {
                    Command::UnfenceBroker {
                        broker_id: *broker,
                        expected_broker_epoch: epoch,
                    }
                };
                (command, known && !stale)
            }
            Op::AllocateProducerIds { broker, stale } => {
                let (epoch, known) = self.broker_epoch(*broker, *stale);
                (
                    Command::AllocateProducerIds {
                        broker_id: *broker,
                        expected_broker_epoch: epoch,
                    },
                    known && !stale,
                )
            }
            Op::MoveLeader { name: n, stale } => {
                let (topic_id, (leader, leader_epoch, partition_epoch)) =
                    match self.topics.get(&name(n)) {
                        Some(t) => (t.id, t.partitions[0]),
                        None => (Uuid::new_v4(), (0, 0, 0)),
                    };
                let next = REPLICAS[(leader as usize + 1) % REPLICAS.len()];
                let command = Command::ChangePartition {
                    topic_id,
                    partition: 0,
                    expected_partition_epoch: partition_epoch + i32::from(*stale),
                    expected_leader_epoch: leader_epoch,
                    change: PartitionChange {
                        leader: Some(next),
                        isr: REPLICAS.to_vec(),
                        replicas: None,
                    },
                };
                (command, self.topics.contains_key(&name(n)) && !stale)
            }
            Op::Restart { .. } => unreachable!("not a command"),
        }
    }

    fn broker_epoch(&self, broker: i32, stale: bool) -> (i64, bool) {
        match self.brokers.get(&broker) {
            Some((_, epoch, _)) => (if stale { epoch + 1000 } else { *epoch }, true),
            None => (1, false),
        }
    }

    /// Applies an accepted command; the epoch of a registration is the log's (checked to grow).
    fn apply(&mut self, command: &Command, applied: &Applied) {
        match (command, applied) {
            (
                Command::CreateTopic {
                    name,
                    topic_id,
                    assignments,
                    ..
                },
                _,
            ) => {
                let partitions = vec![(0, 0, 0); assignments.len()];
                self.topics.insert(
                    name.clone(),
                    ModelTopic {
                        id: *topic_id,
                        partitions,
                        configs: BTreeMap::new(),
                    },
                );
            }
            (Command::DeleteTopic { topic_id }, _) => self.topics.retain(|_, t| t.id != *topic_id),
            (
                Command::SetConfig {
                    resource,
                    key,
                    value,
                },
                _,
            ) => {
                let map = match resource {
                    ConfigResource::Topic(name) => {
                        &mut self.topics.get_mut(name).expect("accepted").configs
                    }
                    _ => &mut self.cluster_configs,
                };
                match value {
                    Some(v) => map.insert(key.clone(), v.clone()),
                    None => map.remove(key),
                };
            }
            (
                Command::RegisterBroker {
                    broker_id,
                    incarnation_id,
                    ..
                },
                Applied::BrokerRegistered { broker_epoch },
            ) => match self.brokers.get(broker_id) {
                Some((incarnation, epoch, _)) if incarnation == incarnation_id => {
                    assert_eq!(
                        broker_epoch, epoch,
                        "a retried registration keeps its epoch"
                    );
                }
                old => {
                    if let Some((_, epoch, _)) = old {
                        assert!(
                            broker_epoch > epoch,
                            "a new incarnation's epoch {broker_epoch} > {epoch}"
                        );
                    }
                    self.brokers
                        .insert(*broker_id, (*incarnation_id, *broker_epoch, true));
                }
            },
            (Command::FenceBroker { broker_id, .. }, _) => {
                self.brokers.get_mut(broker_id).expect("accepted").2 = true
            }
            (Command::UnfenceBroker { broker_id, .. }, _) => {
                self.brokers.get_mut(broker_id).expect("accepted").2 = false
            }
            (Command::AllocateProducerIds { .. }, Applied::ProducerIds(block)) => {
                assert_eq!(
                    block.first_producer_id, self.next_producer_id,
                    "blocks follow one another"
                );
                self.next_producer_id += i64::from(PRODUCER_ID_BLOCK_SIZE);
            }
            (
                Command::ChangePartition {
                    topic_id, change, ..
                },
                _,
            ) => {
                let topic = self
                    .topics
                    .values_mut()
                    .find(|t| t.id == *topic_id)
                    .expect("accepted");
                let p = &mut topic.partitions[0];
                *p = (change.leader.expect("always a leader"), p.1 + 1, p.2 + 1);
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }

    /// The image's state in the model's terms.
    fn of(image: &Image) -> Model {
        let topics = image
            .topics()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        (
                            p.leader().unwrap_or(-1),
                            p.leader_epoch(),
                            p.partition_epoch(),
                        )
                    })
                    .collect();
                (
                    t.name.clone(),
                    ModelTopic {
                        id: t.topic_id,
                        partitions,
                        configs: t.configs.clone(),
                    },
                )
            })
            .collect();
        let brokers = image
            .brokers()
            .map(|b| (b.broker_id, (b.incarnation_id, b.broker_epoch, b.fenced)))
            .collect();
        let cluster_configs = image
            .configs(&ConfigResource::ClusterDefault)
            .cloned()
            .unwrap_or_default();
        Model {
            topics,
            brokers,
            cluster_configs,
            next_producer_id: image.next_producer_id(),
        }
    }
}

fn tear_tail(dir: &Path, short: bool) {
    let mut segments: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    let last = segments.pop().expect("a segment");
    let mut file = OpenOptions::new().append(true).open(last).unwrap();
    if short {
        file.write_all(&[40, 0, 0, 0, 1, 2]).unwrap();
    } else {
        let mut entry = vec![
            4, 0, 0, 0, 0xba, 0xd0, 0xc0, 0xc0, 0xff, 0xff, 0, 0, 0, 0, 0, 0,
        ];
        entry.extend_from_slice(b"junk");
        file.write_all(&entry).unwrap();
    }
}

async fn start(config: &MetaConfig) -> RaftQuorum {
    let node = RaftQuorum::start(config.clone()).await.expect("start");
    wait_status(&node, |s| s.is_leader()).await;
    node
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let voters = BTreeMap::from([(1, format!("127.0.0.1:{}", free_port()))]);
    let mut config = fast(MetaConfig::new(1, voters, dir.path().to_path_buf()));
    config.election_timeout_ms = 50;
    config.fetch_timeout_ms = 100;
    config.snapshot_interval_entries = 5;
    config.segment_size_bytes = 1024;
    let mut node = start(&config).await;
    let mut model = Model::default();
    for op in &ops {
        if let Op::Restart { torn } = op {
            let before = node.image();
            node.shutdown().await;
            drop(node);
            if let Some(short) = torn {
                tear_tail(dir.path(), *short);
            }
            node = start(&config).await;
            let after = wait_image(&node, |i| {
                i.last_applied_index() >= before.last_applied_index()
            })
            .await;
            assert_eq!(
                Model::of(&after),
                Model::of(&before),
                "a restart after {op:?} rebuilds the same image"
            );
            continue;
        }
        let (command, accept) = model.command(op);
        let result = node.propose(command.clone()).await;
        match &result {
            Ok(applied) if accept => model.apply(&command, applied),
            Err(runnel_meta::ProposeError::Rejected(_)) if !accept => {}
            other => {
                panic!("{op:?} -> {command:?}: model expected accepted={accept}, got {other:?}")
            }
        }
        assert_eq!(
            Model::of(&node.image()),
            model,
            "image and model agree after {op:?}"
        );
    }
    node.shutdown().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_commands_with_restarts_and_torn_tails_give_the_models_image(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(run(ops));
    }
}

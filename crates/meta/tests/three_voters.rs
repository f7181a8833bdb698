//! Three voters in-process over real TCP on 127.0.0.1, every link through a cuttable proxy.

mod support;

use std::collections::BTreeMap;

use runnel_meta::{Applied, Command, MetadataQuorum, NodeId, ProducerIdBlock, ProposeError};
use support::{wait_image, wait_status, Cluster};
use uuid::Uuid;

const IDS: [NodeId; 3] = [1, 2, 3];

fn topic(name: &str) -> Command {
    Command::CreateTopic {
        name: name.to_string(),
        topic_id: Uuid::new_v4(),
        configs: BTreeMap::new(),
        assignments: vec![vec![1, 2, 3]],
    }
}

async fn wait_topic_everywhere(cluster: &Cluster, name: &str) {
    for node in cluster.running() {
        wait_image(node, |image| image.topic_by_name(name).is_some()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_on_the_leader_commits_on_all_voters() {
    let cluster = Cluster::start(&IDS).await;
    let leader = cluster.leader_among(&IDS).await;
    let applied = cluster.node(leader).propose(topic("orders")).await.unwrap();
    assert!(
        matches!(applied, Applied::TopicCreated { .. }),
        "{applied:?}"
    );
    wait_topic_everywhere(&cluster, "orders").await;
    let images: Vec<_> = cluster.running().map(|n| n.image()).collect();
    assert!(
        images.windows(2).all(|w| w[0] == w[1]),
        "all voters hold the same image: {images:?}"
    );

    // DescribeQuorum's view from the leader: all three voters, caught up to the leader's end.
    let status = wait_status(cluster.node(leader), |s| {
        s.voters.len() == 3
            && s.voters.iter().all(|v| {
                v.log_end_offset == Some(s.high_watermark) && v.last_fetch_timestamp_ms.is_some()
            })
    })
    .await;
    assert_eq!(status.leader_id, Some(leader));
    assert!(
        status.epoch >= 1 && status.observers.is_empty(),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_elects_a_new_one_and_proposals_keep_working() {
    let mut cluster = Cluster::start(&IDS).await;
    let old = cluster.leader_among(&IDS).await;
    cluster.node(old).propose(topic("before")).await.unwrap();
    let old_epoch = cluster.node(old).status().epoch;
    cluster.kill(old).await;

    let survivors: Vec<NodeId> = IDS.iter().copied().filter(|id| *id != old).collect();
    let new = cluster.leader_among(&survivors).await;
    assert_ne!(new, old);
    let status = cluster.node(new).status();
    assert!(
        status.epoch > old_epoch,
        "a new term: {} after {old_epoch}",
        status.epoch
    );
    // Proposed on the follower survivor: forwarded to the new leader.
    let follower = survivors
        .iter()
        .copied()
        .find(|id| *id != new)
        .expect("two survivors");
    cluster
        .node(follower)
        .propose(topic("after"))
        .await
        .unwrap();
    wait_topic_everywhere(&cluster, "after").await;

    // The old leader comes back as a follower and catches up.
    cluster.restart(old).await;
    wait_image(cluster.node(old), |image| {
        image.topic_by_name("after").is_some()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_cut_off_cannot_commit_while_the_majority_can() {
    let cluster = Cluster::start(&IDS).await;
    let cut = cluster.leader_among(&IDS).await;
    cluster.isolate(cut, true);
    // The cut-off old leader keeps proposing into a log no majority will accept.
    let minority = cluster.node(cut).propose(topic("minority"));
    let majority_ids: Vec<NodeId> = IDS.iter().copied().filter(|id| *id != cut).collect();
    let majority = async {
        let leader = cluster.leader_among(&majority_ids).await;
        cluster.node(leader).propose(topic("majority")).await
    };
    let (minority, majority) = tokio::join!(minority, majority);
    assert!(
        matches!(majority, Ok(Applied::TopicCreated { .. })),
        "majority commits: {majority:?}"
    );
    assert!(
        matches!(
            minority,
            Err(ProposeError::Timeout { .. } | ProposeError::NotLeader { .. })
        ),
        "minority cannot commit: {minority:?}"
    );
    assert!(
        cluster
            .node(cut)
            .image()
            .topic_by_name("minority")
            .is_none(),
        "nothing committed on the minority"
    );
    assert!(
        cluster
            .node(cut)
            .image()
            .topic_by_name("majority")
            .is_none(),
        "the cut node heard nothing"
    );

    // Healed: the cut node takes the majority's log; its uncommitted entry is truncated away.
    cluster.isolate(cut, false);
    wait_topic_everywhere(&cluster, "majority").await;
    let images: Vec<_> = cluster.running().map(|n| n.image()).collect();
    assert!(
        images.iter().all(|i| i.topic_by_name("minority").is_none()),
        "the minority's proposal never commits"
    );
    let target = images.iter().map(|i| i.last_applied_index()).max().unwrap();
    for node in cluster.running() {
        let image = wait_image(node, |i| i.last_applied_index() >= target).await;
        assert_eq!(
            image.topic_by_name("majority"),
            images[0].topic_by_name("majority")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_id_blocks_never_overlap_across_proposals_from_different_nodes() {
    let cluster = Cluster::start(&IDS).await;
    cluster.leader_among(&IDS).await;
    let mut epochs = BTreeMap::new();
    for id in IDS {
        let command = Command::RegisterBroker {
            broker_id: id as i32,
            incarnation_id: Uuid::new_v4(),
            endpoints: vec![],
            rack: None,
        };
        let Ok(Applied::BrokerRegistered { broker_epoch }) =
            cluster.node(id).propose(command).await
        else {
            panic!("registration of broker {id}")
        };
        epochs.insert(id, broker_epoch);
    }
    // Each node asks for blocks for its own broker, concurrently.
    let asks = IDS.map(|id| {
        let node = cluster.node(id);
        let epoch = epochs[&id];
        async move {
            let mut blocks = Vec::new();
            for _ in 0..5 {
                let command = Command::AllocateProducerIds {
                    broker_id: id as i32,
                    expected_broker_epoch: epoch,
                };
                match node.propose(command).await {
                    Ok(Applied::ProducerIds(block)) => blocks.push(block),
                    other => panic!("node {id}: {other:?}"),
                }
            }
            blocks
        }
    });
    let [a, b, c] = asks;
    let (a, b, c) = tokio::join!(a, b, c);
    let mut blocks: Vec<ProducerIdBlock> = a.into_iter().chain(b).chain(c).collect();
    blocks.sort_by_key(|b| b.first_producer_id);
    assert_eq!(blocks.len(), 15);
    for pair in blocks.windows(2) {
        assert!(
            pair[0].end() <= pair[1].first_producer_id,
            "blocks overlap: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_that_missed_purged_entries_catches_up_from_a_snapshot() {
    let mut cluster = Cluster::start(&IDS).await;
    let leader = cluster.leader_among(&IDS).await;
    let behind = IDS.iter().copied().find(|id| *id != leader).unwrap();
    cluster.kill(behind).await;
    for i in 0..80 {
        cluster
            .node(leader)
            .propose(topic(&format!("t{i}")))
            .await
            .unwrap();
    }
    // The leader snapshotted and purged: the log's first segment, holding what the stopped
    // voter lacks, is gone, so only a snapshot can bring it back.
    let leader_dir = cluster.configs[&leader].log_dir.clone();
    let first_segment = leader_dir.join(format!("{:020}.log", 0));
    let status = wait_status(cluster.node(leader), |_| !first_segment.exists()).await;
    assert!(status.high_watermark > 80, "{status:?}");

    cluster.restart(behind).await;
    let caught_up = wait_image(cluster.node(behind), |image| {
        image.topic_by_name("t79").is_some()
    })
    .await;
    assert_eq!(caught_up.topics().count(), 80);
    assert_eq!(
        caught_up.topic_by_name("t0"),
        cluster.node(leader).image().topic_by_name("t0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_added_as_a_learner_follows_the_log_and_is_listed_as_an_observer() {
    let cluster = Cluster::start(&IDS).await;
    let leader = cluster.leader_among(&IDS).await;
    cluster
        .node(leader)
        .propose(topic("seen-by-observer"))
        .await
        .unwrap();
    let voters = IDS
        .iter()
        .map(|id| (*id, cluster.configs[id].voters[id].clone()))
        .collect();
    let mut config = support::fast(runnel_meta::MetaConfig::new(
        4,
        voters,
        cluster.dir.path().join("node-4"),
    ));
    config.listener = Some(format!("127.0.0.1:{}", support::free_port()));
    let observer = runnel_meta::RaftQuorum::start(config)
        .await
        .expect("start observer");
    let address = observer.local_address().to_string();
    cluster.node(leader).add_learner(4, address).await.unwrap();

    wait_image(&observer, |image| {
        image.topic_by_name("seen-by-observer").is_some()
    })
    .await;
    let status = wait_status(cluster.node(leader), |s| {
        s.observers
            .iter()
            .any(|o| o.node_id == 4 && o.log_end_offset == Some(s.high_watermark))
    })
    .await;
    assert_eq!(
        status.voters.len(),
        3,
        "the observer does not vote: {status:?}"
    );
    assert!(!observer.status().voters.iter().any(|v| v.node_id == 4));
    observer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_accepts_but_never_answers_costs_timeouts_not_a_hung_quorum() {
    let cluster = Cluster::start(&IDS).await;
    let leader = cluster.leader_among(&IDS).await;
    let hung = IDS.iter().copied().find(|id| *id != leader).unwrap();
    cluster.set_links(hung, support::Link::BlackHole);
    // The leader's calls to the hung peer time out; the other follower and it still commit.
    for i in 0..5 {
        let applied = cluster
            .node(leader)
            .propose(topic(&format!("while-hung-{i}")))
            .await;
        assert!(
            matches!(applied, Ok(Applied::TopicCreated { .. })),
            "{applied:?}"
        );
    }
    // The hung node's own proposal (its forward or its election) ends in an error, in time.
    let started = std::time::Instant::now();
    let stuck = cluster
        .node(hung)
        .propose(topic("from-the-hung-node"))
        .await;
    assert!(stuck.is_err(), "{stuck:?}");
    let limit_ms = cluster.configs[&hung].propose_timeout_ms + 1_000;
    assert!(
        started.elapsed().as_millis() < u128::from(limit_ms),
        "answered within the propose timeout: {:?}",
        started.elapsed()
    );

    cluster.set_links(hung, support::Link::Open);
    wait_image(cluster.node(hung), |image| {
        image.topic_by_name("while-hung-4").is_some()
    })
    .await;
}

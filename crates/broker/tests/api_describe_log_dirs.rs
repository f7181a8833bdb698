//! DescribeLogDirs (what `kafka-log-dirs --describe` sends): the log directory, the partitions
//! asked for with their sizes on disk, and the file system's space, as a one-node Kafka answers.

mod common;

use common::{simple_batch, topic_name, TestBroker};
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::describe_log_dirs_response::DescribeLogDirsResult;
use kafka_protocol::messages::DescribeLogDirsRequest;

fn request(topics: Option<&[(&str, &[i32])]>) -> DescribeLogDirsRequest {
    let mut r = DescribeLogDirsRequest::default();
    r.topics = topics.map(|ts| {
        ts.iter()
            .map(|(t, ps)| {
                let mut d = DescribableLogDirTopic::default();
                d.topic = topic_name(t);
                d.partitions = ps.to_vec();
                d
            })
            .collect()
    });
    r
}

/// topic -> [(partition, size)] in one directory's answer.
fn sizes(result: &DescribeLogDirsResult) -> Vec<(String, Vec<(i32, i64)>)> {
    result
        .topics
        .iter()
        .map(|t| {
            let parts = t
                .partitions
                .iter()
                .map(|p| {
                    assert!(!p.is_future_key && p.offset_lag == 0, "{p:?}");
                    (p.partition_index, p.partition_size)
                })
                .collect();
            (t.name.0.to_string(), parts)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_log_dirs_sizes_the_asked_partitions_and_lists_every_topic_of_the_directory() {
    let broker = TestBroker::start(&[("offsets.topic.num.partitions", "2")]).await;
    let mut c = broker.client().await;
    c.create_topic("a", 2, &[]).await;
    c.create_topic("b", 1, &[]).await;
    let batch = simple_batch(5);
    assert_eq!(c.produce("a", 0, 1, batch.clone()).await.error_code, 0);

    let r = c.send(&request(Some(&[("a", &[0, 1])])), 4).await;
    assert_eq!(r.error_code, 0);
    let [dir] = &r.results[..] else {
        panic!("one log dir configured, got {:?}", r.results)
    };
    assert_eq!(dir.error_code, 0);
    assert_eq!(dir.log_dir.as_str(), broker.dir.path().to_str().unwrap());
    assert!(
        dir.total_bytes > 0 && (0..=dir.total_bytes).contains(&dir.usable_bytes),
        "total {} usable {}",
        dir.total_bytes,
        dir.usable_bytes
    );
    let got = sizes(dir);
    let a = got.iter().find(|(t, _)| t == "a").expect("topic a listed");
    assert_eq!(a.1, vec![(0, batch.len() as i64), (1, 0)]);
    // Kafka lists every topic of the directory, with only the partitions asked for.
    let b = got.iter().find(|(t, _)| t == "b").expect("topic b listed");
    assert!(b.1.is_empty(), "b was not asked for: {b:?}");

    let all = c.send(&request(None), 4).await;
    let got = sizes(&all.results[0]);
    let names: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, vec!["__consumer_offsets", "a", "b"]);
    assert_eq!(got[0].1.len(), 2, "both __consumer_offsets partitions");
    assert_eq!(got[2].1, vec![(0, 0)]);
    broker.shutdown().await;
}

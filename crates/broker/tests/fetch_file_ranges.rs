//! Fetch records travel as segment file ranges sent with `sendfile`: the response carries the
//! stored batches byte for byte, even when retention deletes the segment file between building
//! the response and writing it.
mod common;

use common::*;
use kafka_protocol::messages::FetchResponse;
use runnel_protocol::Chunk;
use tokio::io::{AsyncReadExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn a_fetch_written_after_retention_deleted_its_segment_has_the_same_bytes() {
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    client
        .create_topic("t", 1, &[("segment.bytes", "20000")])
        .await;
    let value = "v".repeat(1000);
    for b in 0..12 {
        let recs: Vec<Rec> = (0..5)
            .map(|i| Rec::kv(&format!("k{b}-{i}"), &value))
            .collect();
        let r = client.produce("t", 0, 1, batch(&recs, None)).await;
        assert_eq!(r.error_code, 0);
    }
    let req = fetch_request("t", 0, 0, 0, 0);
    let expected = client.send(&req, 12).await.responses[0].partitions[0]
        .records
        .clone()
        .expect("records");
    assert!(
        expected.len() > 4096,
        "large enough to travel as a file range"
    );

    // Build the response the way a connection does, but hold it before writing.
    let state = broker.handle.state().clone();
    let (correlation_id, frame) = client.frame(&req, 12);
    let chunks = runnel_broker::handlers::handle(&state, frame.slice(4..))
        .await
        .expect("handled")
        .expect("a response");
    assert!(
        chunks.iter().any(|c| matches!(c, Chunk::File(_))),
        "records are a file range"
    );

    let segment = broker.dir.path().join("t-0").join(format!("{:020}.log", 0));
    assert!(segment.exists(), "{} exists", segment.display());
    let partition = state.topics.partition("t", 0).unwrap();
    let deleted = partition
        .with_log(|log| {
            let mut config = log.config().clone();
            config.retention_ms = 1;
            log.set_config(config);
            log.enforce_retention(now_ms() + 60_000)
        })
        .unwrap();
    assert!(deleted > 0, "retention deleted segments");
    assert!(!segment.exists(), "the fetched segment's file is gone");

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (reader, accepted) = tokio::join!(
        TcpStream::connect(listener.local_addr().unwrap()),
        listener.accept()
    );
    let mut reader = reader.unwrap();
    let (_rd, wr) = accepted.unwrap().0.into_split();
    let mut wr = BufWriter::new(wr);
    runnel_broker::connection::write_response(&mut wr, &chunks)
        .await
        .expect("written");
    drop(wr);
    let mut size = [0u8; 4];
    reader.read_exact(&mut size).await.unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    reader.read_exact(&mut body).await.unwrap();
    let resp: FetchResponse = decode_response(&mut bytes::Bytes::from(body), correlation_id, 12);
    let records = resp.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(records, expected);
    broker.shutdown().await;
}

//! `queued.max.request.bytes` bounds the memory partially sent frames hold, measured as this
//! process's resident set (the broker runs in it). A test binary of its own, so that no other
//! test's allocations move the number.

mod common;

use common::TestBroker;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const FRAME_BYTES: usize = 1 << 20;
const SENT_BYTES: usize = FRAME_BYTES - 64 * 1024;
const BUDGET_BYTES: usize = 4 * FRAME_BYTES + FRAME_BYTES / 2;
const CONNECTIONS: usize = 200;
/// Besides the budget: each connection's buffers (16 KiB each way) and task, the runtime's own.
const SLACK_BYTES: usize = CONNECTIONS * 64 * 1024 + (8 << 20);

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_nearly_sent_one_mib_frames_hold_about_queued_max_request_bytes() {
    let broker = TestBroker::start(&[
        ("socket.request.max.bytes", &FRAME_BYTES.to_string()),
        ("queued.max.request.bytes", &BUDGET_BYTES.to_string()),
    ])
    .await;
    let before = rss_bytes();
    // One buffer shared by every sender: the client side holds no copies.
    let mut nearly = (FRAME_BYTES as i32).to_be_bytes().to_vec();
    nearly.resize(4 + SENT_BYTES, 7);
    let nearly = bytes::Bytes::from(nearly);
    let mut senders = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut s = TcpStream::connect(broker.addr).await.expect("connect");
        let nearly = nearly.clone();
        senders.push(tokio::spawn(async move {
            s.write_all(&nearly).await.expect("write");
            std::future::pending::<()>().await;
        }));
    }
    let fit = BUDGET_BYTES / FRAME_BYTES;
    broker
        .wait_for_network("the frames that fit to be read as far as sent", |s| {
            s.reading_frames == CONNECTIONS
                && s.waiting_for_memory == CONNECTIONS - fit
                && s.partial_frame_bytes == fit * SENT_BYTES
        })
        .await;
    let grown = rss_bytes().saturating_sub(before);
    // Unbounded, the broker would hold CONNECTIONS * SENT_BYTES (187 MiB) here.
    assert!(
        grown <= BUDGET_BYTES + SLACK_BYTES,
        "resident set grew by {grown} bytes with {CONNECTIONS} partly sent frames; budget {BUDGET_BYTES} + slack {SLACK_BYTES}"
    );
    let mut c = broker.client().await;
    let r = c
        .send(&kafka_protocol::messages::ApiVersionsRequest::default(), 3)
        .await;
    assert_eq!(r.error_code, 0, "a fresh client is served");
    senders.iter().for_each(|s| s.abort());
}

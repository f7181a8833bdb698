mod common;

use common::*;
use kafka_protocol::messages::{DescribeClusterRequest, MetadataRequest};

#[tokio::test]
async fn describe_cluster_names_this_node_as_broker_and_controller() {
    let b = TestBroker::start(&[("node.id", "5")]).await;
    let mut c = b.client().await;
    let resp = c.send(&DescribeClusterRequest::default(), 1).await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.endpoint_type, 1);
    assert_eq!(resp.controller_id.0, 5);
    assert_eq!(resp.brokers.len(), 1);
    let broker = &resp.brokers[0];
    assert_eq!(broker.broker_id.0, 5);
    assert_eq!(broker.host.as_str(), "127.0.0.1");
    assert_eq!(broker.port, b.addr.port() as i32);
    let metadata = c.send(&MetadataRequest::default(), 12).await;
    assert_eq!(
        metadata.cluster_id.as_deref(),
        Some(resp.cluster_id.as_str()),
        "same cluster id as Metadata"
    );
    assert_eq!(resp.cluster_id.len(), 22);
    b.shutdown().await;
}

#[tokio::test]
async fn version_zero_describes_the_brokers() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let resp = c.send(&DescribeClusterRequest::default(), 0).await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.brokers.len(), 1);
    assert_eq!(resp.controller_id.0, 1);
    b.shutdown().await;
}

#[tokio::test]
async fn controller_endpoints_are_refused_with_mismatched_endpoint_type() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let mut req = DescribeClusterRequest::default();
    req.endpoint_type = 2;
    let resp = c.send(&req, 1).await;
    assert_eq!(resp.error_code, 114);
    assert!(resp.error_message.is_some());
    assert!(resp.brokers.is_empty());
    b.shutdown().await;
}

#[tokio::test]
async fn unknown_endpoint_type_is_refused_with_unsupported_endpoint_type() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let mut req = DescribeClusterRequest::default();
    req.endpoint_type = 9;
    let resp = c.send(&req, 1).await;
    assert_eq!(resp.error_code, 115);
    assert_eq!(
        resp.error_message.as_deref(),
        Some("Unsupported endpoint type 9")
    );
    b.shutdown().await;
}

#[tokio::test]
async fn authorized_operations_are_omitted_unless_requested() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let resp = c.send(&DescribeClusterRequest::default(), 1).await;
    assert_eq!(resp.cluster_authorized_operations, i32::MIN);
    let mut req = DescribeClusterRequest::default();
    req.include_cluster_authorized_operations = true;
    let resp = c.send(&req, 1).await;
    let ops = resp.cluster_authorized_operations;
    assert!(ops > 0);
    for op in [5, 7, 8, 9, 10, 11, 12] {
        assert_ne!(ops & (1 << op), 0, "operation {op}");
    }
    b.shutdown().await;
}

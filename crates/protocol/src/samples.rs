//! Small valid request bodies for every advertised API, with every array non-empty so that its
//! length field is present. Used by the hostile-input tests (which mutate them) and by the
//! broker's every-API-at-every-version test.

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;

/// The encoded body of a small valid request of `api` at `version`. Panics for an API Runnel does
/// not advertise (a test bug).
pub fn sample_request_body(api: ApiKey, version: i16) -> Vec<u8> {
    fn enc<T: Encodable>(t: &T, version: i16) -> Vec<u8> {
        let mut buf = bytes::BytesMut::new();
        t.encode(&mut buf, version).expect("sample encodes");
        buf.to_vec()
    }
    let name = || TopicName(kafka_protocol::protocol::StrBytes::from_static_str("topic"));
    let s = kafka_protocol::protocol::StrBytes::from_static_str;
    let group = || GroupId(s("group"));
    match api {
        ApiKey::Produce => {
            let mut p = produce_request::PartitionProduceData::default();
            p.records = Some(Bytes::from_static(&[1, 2, 3, 4]));
            let mut t = produce_request::TopicProduceData::default();
            t.name = name();
            t.partition_data = vec![p];
            let mut r = ProduceRequest::default();
            r.topic_data = vec![t];
            enc(&r, version)
        }
        ApiKey::Fetch => {
            let mut t = fetch_request::FetchTopic::default();
            t.topic = name();
            t.partitions = vec![fetch_request::FetchPartition::default()];
            let mut r = FetchRequest::default();
            r.topics = vec![t];
            enc(&r, version)
        }
        ApiKey::ListOffsets => {
            let mut t = list_offsets_request::ListOffsetsTopic::default();
            t.name = name();
            t.partitions = vec![list_offsets_request::ListOffsetsPartition::default()];
            let mut r = ListOffsetsRequest::default();
            r.topics = vec![t];
            enc(&r, version)
        }
        ApiKey::Metadata => {
            let mut t = metadata_request::MetadataRequestTopic::default();
            t.name = Some(name());
            let mut r = MetadataRequest::default();
            r.topics = Some(vec![t]);
            enc(&r, version)
        }
        ApiKey::ApiVersions => enc(&ApiVersionsRequest::default(), version),
        ApiKey::CreateTopics => {
            let mut t = create_topics_request::CreatableTopic::default();
            t.name = name();
            t.configs = vec![create_topics_request::CreatableTopicConfig::default()];
            let mut r = CreateTopicsRequest::default();
            r.topics = vec![t];
            enc(&r, version)
        }
        ApiKey::DeleteTopics => {
            let mut r = DeleteTopicsRequest::default();
            if version >= 6 {
                let mut t = delete_topics_request::DeleteTopicState::default();
                t.name = Some(name());
                r.topics = vec![t];
            } else {
                r.topic_names = vec![name()];
            }
            enc(&r, version)
        }
        ApiKey::InitProducerId => enc(&InitProducerIdRequest::default(), version),
        ApiKey::DescribeConfigs => {
            let mut res = describe_configs_request::DescribeConfigsResource::default();
            res.configuration_keys =
                Some(vec![kafka_protocol::protocol::StrBytes::from_static_str(
                    "k",
                )]);
            let mut r = DescribeConfigsRequest::default();
            r.resources = vec![res];
            enc(&r, version)
        }
        ApiKey::AlterConfigs => {
            let mut res = alter_configs_request::AlterConfigsResource::default();
            res.configs = vec![alter_configs_request::AlterableConfig::default()];
            let mut r = AlterConfigsRequest::default();
            r.resources = vec![res];
            enc(&r, version)
        }
        ApiKey::IncrementalAlterConfigs => {
            let mut res = incremental_alter_configs_request::AlterConfigsResource::default();
            res.configs = vec![incremental_alter_configs_request::AlterableConfig::default()];
            let mut r = IncrementalAlterConfigsRequest::default();
            r.resources = vec![res];
            enc(&r, version)
        }
        ApiKey::CreatePartitions => {
            let mut t = create_partitions_request::CreatePartitionsTopic::default();
            t.name = name();
            t.assignments = Some(vec![
                create_partitions_request::CreatePartitionsAssignment::default(),
            ]);
            let mut r = CreatePartitionsRequest::default();
            r.topics = vec![t];
            enc(&r, version)
        }
        ApiKey::DeleteRecords => {
            let mut t = delete_records_request::DeleteRecordsTopic::default();
            t.name = name();
            t.partitions = vec![delete_records_request::DeleteRecordsPartition::default()];
            let mut r = DeleteRecordsRequest::default();
            r.topics = vec![t];
            enc(&r, version)
        }
        ApiKey::DescribeCluster => enc(&DescribeClusterRequest::default(), version),
        ApiKey::DescribeLogDirs => {
            let mut t = describe_log_dirs_request::DescribableLogDirTopic::default();
            t.topic = name();
            t.partitions = vec![0];
            let mut r = DescribeLogDirsRequest::default();
            r.topics = Some(vec![t]);
            enc(&r, version)
        }
        ApiKey::DescribeTopicPartitions => {
            let mut t = describe_topic_partitions_request::TopicRequest::default();
            t.name = name();
            let mut r = DescribeTopicPartitionsRequest::default();
            r.topics = vec![t];
            r.response_partition_limit = 2000;
            enc(&r, version)
        }
        ApiKey::FindCoordinator => {
            let mut r = FindCoordinatorRequest::default();
            if version >= 4 {
                r.coordinator_keys = vec![group().0];
            } else {
                r.key = group().0;
            }
            enc(&r, version)
        }
        ApiKey::JoinGroup => {
            let mut p = join_group_request::JoinGroupRequestProtocol::default();
            p.name = s("range");
            p.metadata = Bytes::from_static(&[0, 0, 0, 0, 0, 0]);
            let mut r = JoinGroupRequest::default();
            r.group_id = group();
            r.session_timeout_ms = 10_000;
            r.rebalance_timeout_ms = 10_000;
            r.protocol_type = s("consumer");
            r.protocols = vec![p];
            enc(&r, version)
        }
        ApiKey::SyncGroup => {
            let mut a = sync_group_request::SyncGroupRequestAssignment::default();
            a.member_id = s("m");
            let mut r = SyncGroupRequest::default();
            r.group_id = group();
            r.assignments = vec![a];
            enc(&r, version)
        }
        ApiKey::Heartbeat => {
            let mut r = HeartbeatRequest::default();
            r.group_id = group();
            enc(&r, version)
        }
        ApiKey::LeaveGroup => {
            let mut r = LeaveGroupRequest::default();
            r.group_id = group();
            if version >= 3 {
                r.members = vec![leave_group_request::MemberIdentity::default()];
            }
            enc(&r, version)
        }
        ApiKey::DescribeGroups => {
            let mut r = DescribeGroupsRequest::default();
            r.groups = vec![group()];
            enc(&r, version)
        }
        ApiKey::ListGroups => {
            let mut r = ListGroupsRequest::default();
            if version >= 4 {
                r.states_filter = vec![s("Stable")];
            }
            if version >= 5 {
                r.types_filter = vec![s("classic")];
            }
            enc(&r, version)
        }
        ApiKey::DeleteGroups => {
            let mut r = DeleteGroupsRequest::default();
            r.groups_names = vec![group()];
            enc(&r, version)
        }
        ApiKey::OffsetCommit => {
            let mut p = offset_commit_request::OffsetCommitRequestPartition::default();
            p.committed_metadata = Some(s("m"));
            let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
            t.name = name();
            t.partitions = vec![p];
            let mut r = OffsetCommitRequest::default();
            r.group_id = group();
            r.generation_id_or_member_epoch = -1;
            r.topics = vec![t];
            enc(&r, version)
        }
        ApiKey::OffsetFetch => {
            let mut r = OffsetFetchRequest::default();
            if version >= 8 {
                let mut t = offset_fetch_request::OffsetFetchRequestTopics::default();
                t.name = name();
                t.partition_indexes = vec![0];
                let mut g = offset_fetch_request::OffsetFetchRequestGroup::default();
                g.group_id = group();
                g.topics = Some(vec![t]);
                r.groups = vec![g];
            } else {
                let mut t = offset_fetch_request::OffsetFetchRequestTopic::default();
                t.name = name();
                t.partition_indexes = vec![0];
                r.group_id = group();
                r.topics = Some(vec![t]);
            }
            enc(&r, version)
        }
        ApiKey::OffsetDelete => {
            let mut t = offset_delete_request::OffsetDeleteRequestTopic::default();
            t.name = name();
            t.partitions = vec![offset_delete_request::OffsetDeleteRequestPartition::default()];
            let mut r = OffsetDeleteRequest::default();
            r.group_id = group();
            r.topics = vec![t];
            enc(&r, version)
        }
        other => panic!("no sample for {other:?}"),
    }
}

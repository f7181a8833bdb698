//! Admin: topics, partitions, configs, offsets, cluster.

use crate::cluster::{name, sb, BrokerInfo, Cluster, TopicInfo};
use crate::config::CommonConfig;
use crate::error::{ClientError, Result};
use crate::group;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeClusterRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
    ListOffsetsRequest,
};
use kafka_protocol::messages::{DeleteGroupsRequest, DescribeGroupsRequest, ListGroupsRequest};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    pub fn new(name: impl Into<String>, partitions: i32) -> NewTopic {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor: 1,
            configs: Vec::new(),
        }
    }
    pub fn config(mut self, k: &str, v: &str) -> NewTopic {
        self.configs.push((k.to_string(), v.to_string()));
        self
    }
}

/// What a config resource is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigResource {
    Topic(String),
    Broker(i32),
}

impl ConfigResource {
    fn wire(&self) -> (i8, String) {
        match self {
            ConfigResource::Topic(t) => (2, t.clone()),
            ConfigResource::Broker(b) => (4, b.to_string()),
        }
    }
}

/// One described config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub read_only: bool,
    pub sensitive: bool,
    /// Kafka's ConfigSource: 1 topic, 4 static broker, 5 default, ...
    pub source: i8,
}

impl ConfigEntry {
    /// Whether the value is the default (not set on the resource).
    pub fn is_default(&self) -> bool {
        self.source == 5
    }
}

/// Which offset ListOffsets looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    Latest,
    /// The first offset whose timestamp is >= this (ms).
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// The answer of ListOffsets for one partition: `offset` -1 when no record is that late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    pub offset: i64,
    pub timestamp: i64,
}

/// DescribeCluster's answer.
#[derive(Debug, Clone)]
pub struct ClusterDescription {
    pub cluster_id: String,
    pub controller: i32,
    pub brokers: Vec<BrokerInfo>,
}

/// A group as ListGroups reports it.
#[derive(Debug, Clone)]
pub struct GroupListing {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
}

/// One member of a described group.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    pub assignment: Vec<(String, i32)>,
}

/// DescribeGroups' answer for one group.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    /// The assignment strategy chosen.
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// The admin client.
pub struct Admin {
    cluster: Arc<Cluster>,
}

impl Admin {
    /// Connects to `bootstrap.servers`.
    pub async fn connect(config: CommonConfig) -> Result<Admin> {
        Ok(Admin {
            cluster: Cluster::connect(config).await?,
        })
    }

    /// Shorthand for a client with only `bootstrap.servers` set.
    pub async fn connect_to(bootstrap: &str) -> Result<Admin> {
        Admin::connect(CommonConfig::from_pairs(&[(
            "bootstrap.servers",
            bootstrap,
        )])?)
        .await
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Creates topics; the first refusal is returned.
    pub async fn create_topics(&self, topics: &[NewTopic]) -> Result<()> {
        let mut req = CreateTopicsRequest::default();
        req.timeout_ms = self.cluster.config.request_timeout.as_millis() as i32;
        req.topics = topics
            .iter()
            .map(|t| {
                let mut c = CreatableTopic::default();
                c.name = name(&t.name);
                c.num_partitions = t.partitions;
                c.replication_factor = t.replication_factor;
                c.configs = t
                    .configs
                    .iter()
                    .map(|(k, v)| {
                        let mut e = CreatableTopicConfig::default();
                        e.name = sb(k);
                        e.value = Some(sb(v));
                        e
                    })
                    .collect();
                c
            })
            .collect();
        let resp = self.cluster.send_controller(&req).await?;
        for t in resp.topics {
            ClientError::check(t.error_code, t.error_message.as_deref())?;
        }
        Ok(())
    }

    /// Creates one topic.
    pub async fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Result<()> {
        let mut t = NewTopic::new(topic, partitions);
        for (k, v) in configs {
            t = t.config(k, v);
        }
        self.create_topics(&[t]).await
    }

    /// Deletes topics.
    pub async fn delete_topics(&self, topics: &[&str]) -> Result<()> {
        let mut req = DeleteTopicsRequest::default();
        req.timeout_ms = self.cluster.config.request_timeout.as_millis() as i32;
        req.topic_names = topics.iter().map(|t| name(t)).collect();
        let resp = self.cluster.send_controller(&req).await?;
        for t in &resp.responses {
            ClientError::check(t.error_code, t.error_message.as_deref())?;
        }
        for t in topics {
            self.cluster.invalidate(t);
        }
        Ok(())
    }

    /// Topic names, sorted; internal topics only when `include_internal`.
    pub async fn list_topics(&self, include_internal: bool) -> Result<Vec<String>> {
        let md = self.cluster.refresh_all().await?;
        let mut names: Vec<String> = md
            .topics
            .values()
            .filter(|t| include_internal || !t.internal)
            .filter(|t| t.partitions.first().is_none_or(|p| p.partition >= 0))
            .map(|t| t.name.clone())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Partitions, leaders and replicas of topics; an unknown topic is an error.
    pub async fn describe_topics(&self, topics: &[&str]) -> Result<Vec<TopicInfo>> {
        let md = self.cluster.refresh(topics).await?;
        topics
            .iter()
            .map(|t| {
                let info = md
                    .topics
                    .get(*t)
                    .cloned()
                    .ok_or_else(|| ClientError::kafka(3, Some(format!("topic {t}"))))?;
                if let Some(p) = info.partitions.first().filter(|p| p.partition < 0) {
                    return Err(ClientError::kafka(p.error_code, Some(format!("topic {t}"))));
                }
                Ok(info)
            })
            .collect()
    }

    /// Grows `topic` to `total` partitions.
    pub async fn create_partitions(&self, topic: &str, total: i32) -> Result<()> {
        let mut t = CreatePartitionsTopic::default();
        t.name = name(topic);
        t.count = total;
        t.assignments = None;
        let mut req = CreatePartitionsRequest::default();
        req.topics = vec![t];
        req.timeout_ms = self.cluster.config.request_timeout.as_millis() as i32;
        let resp = self.cluster.send_controller(&req).await?;
        for r in resp.results {
            ClientError::check(r.error_code, r.error_message.as_deref())?;
        }
        self.cluster.invalidate(topic);
        Ok(())
    }

    /// Every config of a resource, sorted by name.
    pub async fn describe_configs(&self, resource: &ConfigResource) -> Result<Vec<ConfigEntry>> {
        let (ty, n) = resource.wire();
        let mut r = DescribeConfigsResource::default();
        r.resource_type = ty;
        r.resource_name = sb(&n);
        r.configuration_keys = None;
        let mut req = DescribeConfigsRequest::default();
        req.resources = vec![r];
        let resp = match resource {
            ConfigResource::Broker(id) => self.cluster.node(*id).await?.send(&req).await?,
            ConfigResource::Topic(_) => self.cluster.send_any(&req).await?,
        };
        let mut out = Vec::new();
        for res in resp.results {
            ClientError::check(res.error_code, res.error_message.as_deref())?;
            for c in res.configs {
                out.push(ConfigEntry {
                    name: c.name.to_string(),
                    value: c.value.map(|v| v.to_string()),
                    read_only: c.read_only,
                    sensitive: c.is_sensitive,
                    source: c.config_source,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Sets (`Some`) or removes (`None`) configs of a resource (IncrementalAlterConfigs).
    pub async fn alter_configs(
        &self,
        resource: &ConfigResource,
        changes: &[(&str, Option<&str>)],
    ) -> Result<()> {
        let (ty, n) = resource.wire();
        let mut r = AlterConfigsResource::default();
        r.resource_type = ty;
        r.resource_name = sb(&n);
        r.configs = changes
            .iter()
            .map(|(k, v)| {
                let mut c = AlterableConfig::default();
                c.name = sb(k);
                c.config_operation = if v.is_some() { 0 } else { 1 };
                c.value = v.map(sb);
                c
            })
            .collect();
        let mut req = IncrementalAlterConfigsRequest::default();
        req.resources = vec![r];
        let resp = self.cluster.send_controller(&req).await?;
        for r in resp.responses {
            ClientError::check(r.error_code, r.error_message.as_deref())?;
        }
        Ok(())
    }

    /// Offsets of every partition of `topic` for `spec`, by partition.
    pub async fn list_offsets(
        &self,
        topic: &str,
        spec: OffsetSpec,
    ) -> Result<BTreeMap<i32, ListedOffset>> {
        let info = self.cluster.topic(topic).await?;
        let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for p in &info.partitions {
            by_leader.entry(p.leader).or_default().push(p.partition);
        }
        let mut out = BTreeMap::new();
        for (leader, parts) in by_leader {
            let mut t = ListOffsetsTopic::default();
            t.name = name(topic);
            t.partitions = parts
                .iter()
                .map(|p| {
                    let mut lp = ListOffsetsPartition::default();
                    lp.partition_index = *p;
                    lp.timestamp = spec.wire();
                    lp.current_leader_epoch = -1;
                    lp
                })
                .collect();
            let mut req = ListOffsetsRequest::default();
            req.replica_id = BrokerId(-1);
            req.topics = vec![t];
            let resp = self.cluster.node(leader).await?.send(&req).await?;
            for t in resp.topics {
                for p in t.partitions {
                    ClientError::check(p.error_code, None)?;
                    out.insert(
                        p.partition_index,
                        ListedOffset {
                            offset: p.offset,
                            timestamp: p.timestamp,
                        },
                    );
                }
            }
        }
        Ok(out)
    }

    /// The cluster id, controller and brokers.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let req = DescribeClusterRequest::default();
        let c = self.cluster.any().await?;
        let resp = c.send(&req).await?;
        ClientError::check(resp.error_code, resp.error_message.as_deref())?;
        Ok(ClusterDescription {
            cluster_id: resp.cluster_id.to_string(),
            controller: resp.controller_id.0,
            brokers: resp
                .brokers
                .iter()
                .map(|b| BrokerInfo {
                    node_id: b.broker_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.as_ref().map(|r| r.to_string()),
                })
                .collect(),
        })
    }

    /// Groups known to the cluster: (group id, state, protocol type).
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>> {
        let md = self.cluster.refresh(&[]).await?;
        let mut out = Vec::new();
        for id in md.brokers.keys() {
            let resp = self
                .cluster
                .node(*id)
                .await?
                .send(&ListGroupsRequest::default())
                .await?;
            ClientError::check(resp.error_code, None)?;
            out.extend(resp.groups.into_iter().map(|g| GroupListing {
                group_id: g.group_id.0.to_string(),
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
            }));
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(out)
    }

    /// State, protocol and members (with their assignments) of groups.
    pub async fn describe_groups(&self, groups: &[&str]) -> Result<Vec<GroupDescription>> {
        let mut out = Vec::new();
        for g in groups {
            let coord = group::find_coordinator(&self.cluster, g).await?;
            let mut req = DescribeGroupsRequest::default();
            req.groups = vec![group::gid(g)];
            let resp = coord.send(&req).await?;
            for d in resp.groups {
                ClientError::check(d.error_code, d.error_message.as_deref())?;
                out.push(GroupDescription {
                    group_id: d.group_id.0.to_string(),
                    state: d.group_state.to_string(),
                    protocol_type: d.protocol_type.to_string(),
                    protocol: d.protocol_data.to_string(),
                    members: d
                        .members
                        .into_iter()
                        .map(|m| MemberDescription {
                            member_id: m.member_id.to_string(),
                            instance_id: m.group_instance_id.map(|s| s.to_string()),
                            client_id: m.client_id.to_string(),
                            host: m.client_host.to_string(),
                            assignment: crate::assignor::decode_assignment(m.member_assignment)
                                .unwrap_or_default(),
                        })
                        .collect(),
                });
            }
        }
        Ok(out)
    }

    /// Deletes groups (they must have no members).
    pub async fn delete_groups(&self, groups: &[&str]) -> Result<()> {
        for g in groups {
            let coord = group::find_coordinator(&self.cluster, g).await?;
            let mut req = DeleteGroupsRequest::default();
            req.groups_names = vec![group::gid(g)];
            let resp = coord.send(&req).await?;
            for r in resp.results {
                ClientError::check(r.error_code, Some(&format!("group {g}")))?;
            }
        }
        Ok(())
    }

    /// Every committed offset (and its metadata) of a group.
    pub async fn list_group_offsets(
        &self,
        group_id: &str,
    ) -> Result<BTreeMap<(String, i32), (i64, Option<String>)>> {
        let coord = group::find_coordinator(&self.cluster, group_id).await?;
        group::fetch_committed(&coord, group_id, None).await
    }

    /// Sets a group's committed offsets (the group must have no active members).
    pub async fn alter_group_offsets(
        &self,
        group_id: &str,
        offsets: &[((String, i32), i64)],
    ) -> Result<()> {
        let coord = group::find_coordinator(&self.cluster, group_id).await?;
        let offsets: Vec<_> = offsets
            .iter()
            .map(|(tp, o)| (tp.clone(), *o, None))
            .collect();
        group::commit(&coord, group_id, -1, "", None, &offsets).await
    }

    pub async fn close(&self) {
        self.cluster.close().await;
    }
}

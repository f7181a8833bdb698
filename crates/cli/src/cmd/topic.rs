//! `runnel topic create|list|describe|alter-config|add-partitions|delete`.

use crate::output::{kv, table};
use anyhow::Result;
use clap::Subcommand;
use runnel_client::{ConfigResource, NewTopic};
use serde_json::json;

#[derive(Subcommand)]
pub enum TopicCmd {
    /// Create a topic.
    Create {
        name: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        #[arg(long = "replication-factor", default_value_t = 1)]
        replication_factor: i16,
        /// A topic config KEY=VALUE; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// List topics.
    List {
        #[arg(long)]
        json: bool,
        /// Include internal topics.
        #[arg(long)]
        internal: bool,
    },
    /// Partitions, leaders, replicas and non-default configs of a topic.
    Describe {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Set or remove topic configs.
    AlterConfig {
        name: String,
        /// KEY=VALUE to set; repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// KEY to remove (back to the default); repeatable.
        #[arg(long = "delete", value_name = "KEY")]
        deletes: Vec<String>,
    },
    /// Grow a topic to this many partitions.
    AddPartitions {
        name: String,
        /// The new total number of partitions.
        #[arg(long)]
        partitions: i32,
    },
    /// Delete a topic.
    Delete { name: String },
}

pub async fn run(bootstrap: &str, cmd: TopicCmd) -> Result<()> {
    let admin = super::admin(bootstrap).await?;
    match cmd {
        TopicCmd::Create {
            name,
            partitions,
            replication_factor,
            configs,
        } => {
            let mut t = NewTopic::new(&name, partitions);
            t.replication_factor = replication_factor;
            for c in &configs {
                let (k, v) = kv(c)?;
                t = t.config(&k, &v);
            }
            admin.create_topics(&[t]).await?;
            println!("Created topic {name}.");
        }
        TopicCmd::List { json, internal } => {
            let names = admin.list_topics(internal).await?;
            if json {
                println!("{}", json!(names));
            } else {
                for n in names {
                    println!("{n}");
                }
            }
        }
        TopicCmd::Describe { name, json } => {
            let info = admin.describe_topics(&[&name]).await?.remove(0);
            let configs: Vec<_> = admin
                .describe_configs(&ConfigResource::Topic(name.clone()))
                .await?
                .into_iter()
                .filter(|c| !c.is_default())
                .collect();
            if json {
                let parts: Vec<_> = info
                    .partitions
                    .iter()
                    .map(|p| json!({"partition": p.partition, "leader": p.leader, "replicas": p.replicas, "isr": p.isr}))
                    .collect();
                let cfg: serde_json::Map<String, serde_json::Value> = configs
                    .iter()
                    .map(|c| (c.name.clone(), json!(c.value)))
                    .collect();
                println!(
                    "{}",
                    json!({"name": name, "partitions": parts, "configs": cfg})
                );
            } else {
                let cfg: Vec<String> = configs
                    .iter()
                    .map(|c| format!("{}={}", c.name, c.value.clone().unwrap_or_default()))
                    .collect();
                println!(
                    "Topic: {name}\tPartitionCount: {}\tConfigs: {}",
                    info.partitions.len(),
                    cfg.join(",")
                );
                let rows: Vec<Vec<String>> = info
                    .partitions
                    .iter()
                    .map(|p| {
                        let list =
                            |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
                        vec![
                            p.partition.to_string(),
                            p.leader.to_string(),
                            list(&p.replicas),
                            list(&p.isr),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(&["PARTITION", "LEADER", "REPLICAS", "ISR"], &rows)
                );
            }
        }
        TopicCmd::AlterConfig {
            name,
            sets,
            deletes,
        } => {
            let sets: Vec<(String, String)> = sets.iter().map(|s| kv(s)).collect::<Result<_>>()?;
            if sets.is_empty() && deletes.is_empty() {
                anyhow::bail!("nothing to change: give --set KEY=VALUE or --delete KEY");
            }
            let mut changes: Vec<(&str, Option<&str>)> = sets
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_str())))
                .collect();
            changes.extend(deletes.iter().map(|k| (k.as_str(), None)));
            admin.describe_topics(&[&name]).await?;
            admin
                .alter_configs(&ConfigResource::Topic(name.clone()), &changes)
                .await?;
            println!("Updated configs of topic {name}.");
        }
        TopicCmd::AddPartitions { name, partitions } => {
            admin.create_partitions(&name, partitions).await?;
            println!("Topic {name} now has {partitions} partitions.");
        }
        TopicCmd::Delete { name } => {
            admin.delete_topics(&[&name]).await?;
            println!("Deleted topic {name}.");
        }
    }
    admin.close().await;
    Ok(())
}

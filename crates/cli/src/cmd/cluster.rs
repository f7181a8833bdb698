//! `runnel cluster describe`.

use crate::output::table;
use anyhow::Result;
use clap::Subcommand;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Subcommand)]
pub enum ClusterCmd {
    /// Brokers, controller, and partition and leader counts per broker.
    Describe {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(bootstrap: &str, cmd: ClusterCmd) -> Result<()> {
    let ClusterCmd::Describe { json } = cmd;
    let admin = super::admin(bootstrap).await?;
    let d = admin.describe_cluster().await?;
    let md = admin.cluster().refresh_all().await?;
    // Replicas and leaders per broker: the skew an operator balances.
    let mut counts: BTreeMap<i32, (usize, usize)> =
        d.brokers.iter().map(|b| (b.node_id, (0, 0))).collect();
    for t in md.topics.values() {
        for p in t.partitions.iter().filter(|p| p.partition >= 0) {
            for r in &p.replicas {
                counts.entry(*r).or_default().0 += 1;
            }
            counts.entry(p.leader).or_default().1 += 1;
        }
    }
    if json {
        let brokers: Vec<_> = d
            .brokers
            .iter()
            .map(|b| {
                let (p, l) = counts.get(&b.node_id).copied().unwrap_or_default();
                json!({"id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack,
                       "controller": b.node_id == d.controller, "partitions": p, "leaders": l})
            })
            .collect();
        println!(
            "{}",
            json!({"cluster_id": d.cluster_id, "controller": d.controller, "brokers": brokers})
        );
    } else {
        println!("Cluster ID: {}\nController: {}", d.cluster_id, d.controller);
        let rows: Vec<Vec<String>> = d
            .brokers
            .iter()
            .map(|b| {
                let (p, l) = counts.get(&b.node_id).copied().unwrap_or_default();
                vec![
                    b.node_id.to_string(),
                    format!("{}:{}", b.host, b.port),
                    b.rack.clone().unwrap_or_else(|| "-".into()),
                    if b.node_id == d.controller {
                        "yes".into()
                    } else {
                        "".into()
                    },
                    p.to_string(),
                    l.to_string(),
                ]
            })
            .collect();
        print!(
            "{}",
            table(
                &[
                    "ID",
                    "ADDRESS",
                    "RACK",
                    "CONTROLLER",
                    "PARTITIONS",
                    "LEADERS"
                ],
                &rows
            )
        );
    }
    admin.close().await;
    Ok(())
}

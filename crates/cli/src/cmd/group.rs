//! `runnel group list|describe|reset-offsets|delete`.

use crate::output::table;
use anyhow::{bail, Result};
use clap::Subcommand;
use runnel_client::admin::OffsetSpec;
use serde_json::json;
use std::collections::BTreeMap;

/// topic, partition, committed, log end, lag, member id, host, client id.
type Row = (
    String,
    i32,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    String,
    String,
    String,
);

#[derive(Subcommand)]
pub enum GroupCmd {
    /// List consumer groups with their state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Members, assignments, committed offsets, log end offsets and lag of a group.
    Describe {
        group: String,
        #[arg(long)]
        json: bool,
    },
    /// Plan (or with --execute, apply) new committed offsets for an inactive group.
    ResetOffsets {
        group: String,
        #[arg(long)]
        topic: String,
        #[arg(long = "to-earliest", group = "target")]
        to_earliest: bool,
        #[arg(long = "to-latest", group = "target")]
        to_latest: bool,
        /// The first offset with a timestamp (ms) at or after this.
        #[arg(long = "to-timestamp", group = "target")]
        to_timestamp: Option<i64>,
        #[arg(long = "to-offset", group = "target")]
        to_offset: Option<i64>,
        /// Move the committed offsets by N (negative goes back).
        #[arg(long = "shift-by", group = "target", allow_negative_numbers = true)]
        shift_by: Option<i64>,
        /// Apply the plan (without it this is a dry run).
        #[arg(long)]
        execute: bool,
        #[arg(long)]
        json: bool,
    },
    /// Delete a group that has no members.
    Delete { group: String },
}

pub async fn run(bootstrap: &str, cmd: GroupCmd) -> Result<()> {
    let admin = super::admin(bootstrap).await?;
    match cmd {
        GroupCmd::List { json } => {
            let groups = admin.list_groups().await?;
            if json {
                let v: Vec<_> = groups
                    .iter()
                    .map(|g| json!({"group": g.group_id, "state": g.state, "protocol_type": g.protocol_type}))
                    .collect();
                println!("{}", json!(v));
            } else {
                let rows: Vec<Vec<String>> = groups
                    .iter()
                    .map(|g| vec![g.group_id.clone(), g.state.clone()])
                    .collect();
                print!("{}", table(&["GROUP", "STATE"], &rows));
            }
        }
        GroupCmd::Describe { group, json } => {
            let d = admin.describe_groups(&[&group]).await?.remove(0);
            if d.state == "Dead" {
                bail!("group {group} does not exist");
            }
            let committed = admin.list_group_offsets(&group).await?;
            let mut owner: BTreeMap<(String, i32), &runnel_client::admin::MemberDescription> =
                BTreeMap::new();
            for m in &d.members {
                for tp in &m.assignment {
                    owner.insert(tp.clone(), m);
                }
            }
            let mut tps: Vec<(String, i32)> = committed.keys().cloned().collect();
            tps.extend(owner.keys().cloned());
            tps.sort();
            tps.dedup();
            let mut ends: BTreeMap<String, BTreeMap<i32, i64>> = BTreeMap::new();
            for t in tps
                .iter()
                .map(|(t, _)| t.clone())
                .collect::<std::collections::BTreeSet<_>>()
            {
                if let Ok(o) = admin.list_offsets(&t, OffsetSpec::Latest).await {
                    ends.insert(t, o.into_iter().map(|(p, l)| (p, l.offset)).collect());
                }
            }
            let rows: Vec<Row> = tps
                .iter()
                .map(|tp| {
                    let cur = committed.get(tp).map(|c| c.0);
                    let end = ends.get(&tp.0).and_then(|e| e.get(&tp.1)).copied();
                    let lag = match (cur, end) {
                        (Some(c), Some(e)) => Some((e - c).max(0)),
                        _ => None,
                    };
                    let m = owner.get(tp);
                    (
                        tp.0.clone(),
                        tp.1,
                        cur,
                        end,
                        lag,
                        m.map(|m| m.member_id.clone()).unwrap_or_default(),
                        m.map(|m| m.host.clone()).unwrap_or_default(),
                        m.map(|m| m.client_id.clone()).unwrap_or_default(),
                    )
                })
                .collect();
            if json {
                let parts: Vec<_> = rows
                    .iter()
                    .map(|r| json!({"topic": r.0, "partition": r.1, "committed_offset": r.2, "log_end_offset": r.3,
                                    "lag": r.4, "member_id": r.5, "host": r.6, "client_id": r.7}))
                    .collect();
                let members: Vec<_> = d
                    .members
                    .iter()
                    .map(|m| json!({"member_id": m.member_id, "instance_id": m.instance_id, "client_id": m.client_id,
                                    "host": m.host, "assignment": m.assignment.iter().map(|(t, p)| json!({"topic": t, "partition": p})).collect::<Vec<_>>()}))
                    .collect();
                println!(
                    "{}",
                    json!({"group": group, "state": d.state, "protocol": d.protocol, "members": members, "partitions": parts})
                );
            } else {
                println!(
                    "Group: {group}\tState: {}\tProtocol: {}\tMembers: {}",
                    d.state,
                    d.protocol,
                    d.members.len()
                );
                let o = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
                let rows: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.0.clone(),
                            r.1.to_string(),
                            o(r.2),
                            o(r.3),
                            o(r.4),
                            if r.5.is_empty() {
                                "-".into()
                            } else {
                                r.5.clone()
                            },
                            r.6.clone(),
                            r.7.clone(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &[
                            "TOPIC",
                            "PARTITION",
                            "CURRENT-OFFSET",
                            "LOG-END-OFFSET",
                            "LAG",
                            "CONSUMER-ID",
                            "HOST",
                            "CLIENT-ID"
                        ],
                        &rows
                    )
                );
            }
        }
        GroupCmd::ResetOffsets {
            group,
            topic,
            to_earliest,
            to_latest,
            to_timestamp,
            to_offset,
            shift_by,
            execute,
            json,
        } => {
            let d = admin.describe_groups(&[&group]).await?.remove(0);
            if !d.members.is_empty() || !matches!(d.state.as_str(), "Empty" | "Dead") {
                bail!("group {group} is active ({} with {} members): stop its consumers before resetting offsets", d.state, d.members.len());
            }
            let earliest = admin.list_offsets(&topic, OffsetSpec::Earliest).await?;
            let latest = admin.list_offsets(&topic, OffsetSpec::Latest).await?;
            let committed = admin.list_group_offsets(&group).await?;
            let clamp = |p: i32, o: i64| o.clamp(earliest[&p].offset, latest[&p].offset);
            let mut plan: Vec<((String, i32), i64)> = Vec::new();
            let by_ts = match to_timestamp {
                Some(ts) => Some(
                    admin
                        .list_offsets(&topic, OffsetSpec::Timestamp(ts))
                        .await?,
                ),
                None => None,
            };
            for p in latest.keys() {
                let target = if to_earliest {
                    earliest[p].offset
                } else if to_latest {
                    latest[p].offset
                } else if let Some(ts) = &by_ts {
                    let o = ts[p].offset;
                    if o < 0 {
                        latest[p].offset
                    } else {
                        o
                    }
                } else if let Some(o) = to_offset {
                    clamp(*p, o)
                } else if let Some(n) = shift_by {
                    let cur = committed
                        .get(&(topic.clone(), *p))
                        .map_or(earliest[p].offset, |c| c.0);
                    clamp(*p, cur + n)
                } else {
                    bail!("choose one of --to-earliest, --to-latest, --to-timestamp, --to-offset, --shift-by");
                };
                plan.push(((topic.clone(), *p), target));
            }
            if execute {
                admin.alter_group_offsets(&group, &plan).await?;
            }
            if json {
                let v: Vec<_> = plan
                    .iter()
                    .map(|((t, p), o)| json!({"topic": t, "partition": p, "new_offset": o}))
                    .collect();
                println!(
                    "{}",
                    json!({"group": group, "executed": execute, "offsets": v})
                );
            } else {
                let rows: Vec<Vec<String>> = plan
                    .iter()
                    .map(|((t, p), o)| vec![t.clone(), p.to_string(), o.to_string()])
                    .collect();
                print!("{}", table(&["TOPIC", "PARTITION", "NEW-OFFSET"], &rows));
                if !execute {
                    println!("Dry run: add --execute to apply.");
                }
            }
        }
        GroupCmd::Delete { group } => {
            admin.delete_groups(&[&group]).await?;
            println!("Deleted group {group}.");
        }
    }
    admin.close().await;
    Ok(())
}

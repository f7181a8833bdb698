//! Test support: a userspace TCP proxy that can cut a link, and an in-process cluster of quorum
//! nodes on 127.0.0.1 whose every link (a -> b) runs through its own proxy.
#![allow(dead_code)] // each test file uses part of it

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use runnel_meta::{Image, MetaConfig, MetadataQuorum, NodeId, QuorumStatus, RaftQuorum};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const WAIT: Duration = Duration::from_secs(20);

/// What a proxy does with the link it carries (one direction: connections from one node to
/// another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Open,
    /// Open connections are closed, new ones closed at once (a peer that refuses).
    Drop,
    /// Open connections are closed, new ones accepted and never answered (a peer that hangs).
    BlackHole,
}

/// Forwards connections to `target` while its link is open.
pub struct Proxy {
    pub address: SocketAddr,
    link: Arc<watch::Sender<Link>>,
    task: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let link = Arc::new(watch::channel(Link::Open).0);
        let state = link.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                match *state.borrow() {
                    Link::Drop => continue, // dropped: closed at once
                    Link::BlackHole => {
                        held.push(client); // kept open, never read
                        continue;
                    }
                    Link::Open => held.clear(),
                }
                let mut changed = state.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = changed.wait_for(|l| *l != Link::Open) => {}
                    }
                });
            }
        });
        Proxy {
            address,
            link,
            task,
        }
    }

    pub fn set(&self, link: Link) {
        self.link.send_replace(link);
    }

    pub fn set_blocked(&self, blocked: bool) {
        self.set(if blocked { Link::Drop } else { Link::Open });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A port that was free a moment ago (the node binds it itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// Quick timings so elections take a fraction of a second.
pub fn fast(mut config: MetaConfig) -> MetaConfig {
    config.election_timeout_ms = 300;
    config.fetch_timeout_ms = 600;
    config.propose_timeout_ms = 5_000;
    config.snapshot_interval_entries = 20;
    // Small segments, so purging after a snapshot deletes files.
    config.segment_size_bytes = 4096;
    config
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: BTreeMap<NodeId, Option<RaftQuorum>>,
    pub configs: BTreeMap<NodeId, MetaConfig>,
    /// (from, to) -> the proxy `from` uses to reach `to`.
    pub links: BTreeMap<(NodeId, NodeId), Proxy>,
}

impl Cluster {
    pub async fn start(ids: &[NodeId]) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let real: BTreeMap<NodeId, SocketAddr> = ids
            .iter()
            .map(|id| (*id, SocketAddr::from(([127, 0, 0, 1], free_port()))))
            .collect();
        let mut links = BTreeMap::new();
        for from in ids {
            for to in ids.iter().filter(|to| *to != from) {
                links.insert((*from, *to), Proxy::start(real[to]).await);
            }
        }
        let mut configs = BTreeMap::new();
        for id in ids {
            let voters = ids
                .iter()
                .map(|to| {
                    let address = if to == id {
                        real[to]
                    } else {
                        links[&(*id, *to)].address
                    };
                    (*to, address.to_string())
                })
                .collect();
            let log_dir: PathBuf = dir.path().join(format!("node-{id}"));
            configs.insert(*id, fast(MetaConfig::new(*id, voters, log_dir)));
        }
        let mut cluster = Cluster {
            dir,
            nodes: BTreeMap::new(),
            configs,
            links,
        };
        for id in ids {
            cluster.restart(*id).await;
        }
        cluster
    }

    pub async fn restart(&mut self, id: NodeId) {
        let node = RaftQuorum::start(self.configs[&id].clone())
            .await
            .expect("start node");
        self.nodes.insert(id, Some(node));
    }

    pub fn node(&self, id: NodeId) -> &RaftQuorum {
        self.nodes[&id].as_ref().expect("node is running")
    }

    pub fn running(&self) -> impl Iterator<Item = &RaftQuorum> {
        self.nodes.values().flatten()
    }

    pub async fn kill(&mut self, id: NodeId) {
        if let Some(node) = self.nodes.insert(id, None).flatten() {
            node.shutdown().await;
        }
    }

    /// Cuts every link to and from `id` (or heals them).
    pub fn isolate(&self, id: NodeId, cut: bool) {
        for ((from, to), proxy) in &self.links {
            if *from == id || *to == id {
                proxy.set_blocked(cut);
            }
        }
    }

    /// Sets every link to and from `id`.
    pub fn set_links(&self, id: NodeId, link: Link) {
        for ((from, to), proxy) in &self.links {
            if *from == id || *to == id {
                proxy.set(link);
            }
        }
    }

    /// Waits until every node in `among` agrees on one leader, also in `among`.
    pub async fn leader_among(&self, among: &[NodeId]) -> NodeId {
        let first = self.node(among[0]);
        let status = first
            .wait_for(WAIT, |s| s.leader_id.is_some_and(|l| among.contains(&l)))
            .await
            .unwrap_or_else(|s| panic!("no leader among {among:?}: {s:?}"));
        let leader = status.leader_id.expect("checked");
        for id in among {
            self.node(*id)
                .wait_for(WAIT, |s| s.leader_id == Some(leader))
                .await
                .unwrap_or_else(|s| panic!("node {id} does not follow {leader}: {s:?}"));
        }
        leader
    }
}

/// Waits on the image watch until `done` holds.
pub async fn wait_image(node: &RaftQuorum, done: impl Fn(&Image) -> bool) -> Arc<Image> {
    let mut images = node.watch_image();
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let image = images.borrow_and_update().clone();
            if done(&image) {
                return image;
            }
            images.changed().await.expect("image watch open");
        }
    })
    .await;
    found.unwrap_or_else(|_| {
        panic!(
            "node {}: image condition not met; image {:?}",
            node.node_id(),
            node.image()
        )
    })
}

pub async fn wait_status(node: &RaftQuorum, done: impl Fn(&QuorumStatus) -> bool) -> QuorumStatus {
    node.wait_for(WAIT, done)
        .await
        .unwrap_or_else(|s| panic!("status condition not met: {s:?}"))
}

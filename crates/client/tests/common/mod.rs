//! A Runnel broker in-process for client tests, and a TCP proxy that can cut connections.
#![allow(dead_code)]

pub mod proxy;

/// Polls until `n` records arrived or 20 s passed; returns what came.
pub async fn drain(
    c: &mut runnel_client::Consumer,
    n: usize,
) -> Vec<runnel_client::ConsumerRecord> {
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while out.len() < n && std::time::Instant::now() < deadline {
        out.extend(c.poll(std::time::Duration::from_millis(200)).await.unwrap());
    }
    out
}

use runnel_broker::{BrokerConfig, BrokerHandle};
use runnel_client::{Admin, CommonConfig, ConsumerConfig, ProducerConfig};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};

pub struct TestBroker {
    pub addr: SocketAddr,
    pub handle: BrokerHandle,
    pub dir: TempDir,
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        Self::start_with(&[]).await
    }

    pub async fn start_with(settings: &[(&str, &str)]) -> TestBroker {
        let dir = tempfile::tempdir().unwrap();
        let log_dirs = dir.path().to_str().unwrap().to_string();
        let mut pairs = vec![
            ("listeners", "PLAINTEXT://127.0.0.1:0"),
            ("log.dirs", log_dirs.as_str()),
        ];
        pairs.extend_from_slice(settings);
        let handle = runnel_broker::start(BrokerConfig::with(&pairs).unwrap())
            .await
            .unwrap();
        TestBroker {
            addr: handle.local_addr,
            handle,
            dir,
        }
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub async fn admin(&self) -> Admin {
        Admin::connect_to(&self.bootstrap()).await.unwrap()
    }

    pub fn producer_config(&self, pairs: &[(&str, &str)]) -> ProducerConfig {
        let b = self.bootstrap();
        let mut all = vec![("bootstrap.servers", b.as_str())];
        all.extend_from_slice(pairs);
        ProducerConfig::from_pairs(&all).unwrap()
    }

    pub fn consumer_config(&self, pairs: &[(&str, &str)]) -> ConsumerConfig {
        let b = self.bootstrap();
        let mut all = vec![
            ("bootstrap.servers", b.as_str()),
            ("auto.offset.reset", "earliest"),
        ];
        all.extend_from_slice(pairs);
        ConsumerConfig::from_pairs(&all).unwrap()
    }

    pub fn common(&self) -> CommonConfig {
        CommonConfig::from_pairs(&[("bootstrap.servers", &self.bootstrap())]).unwrap()
    }
}

/// A broker reachable only through a proxy that closes every connection after it forwarded
/// `cut_after` bytes from client to broker (the broker advertises the proxy's address).
pub struct FlakyBroker {
    pub broker: TestBroker,
    pub proxy: SocketAddr,
    pub cuts: Arc<AtomicUsize>,
    pub enabled: Arc<AtomicBool>,
}

impl FlakyBroker {
    pub async fn start(cut_after: usize) -> FlakyBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap();
        let adv = format!("PLAINTEXT://{proxy}");
        let broker = TestBroker::start_with(&[("advertised.listeners", adv.as_str())]).await;
        let target = broker.addr;
        let cuts = Arc::new(AtomicUsize::new(0));
        let enabled = Arc::new(AtomicBool::new(false));
        let (c, e) = (cuts.clone(), enabled.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (c, e) = (c.clone(), e.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let up = async {
                        let mut n = 0usize;
                        let mut buf = vec![0u8; 4096];
                        while let Ok(k) = cr.read(&mut buf).await {
                            if k == 0 {
                                break;
                            }
                            if sw.write_all(&buf[..k]).await.is_err() {
                                break;
                            }
                            n += k;
                            if e.load(Ordering::SeqCst) && n >= cut_after {
                                c.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                        }
                    };
                    let down = async {
                        let mut buf = vec![0u8; 4096];
                        while let Ok(k) = sr.read(&mut buf).await {
                            if k == 0 {
                                break;
                            }
                            if cw.write_all(&buf[..k]).await.is_err() {
                                break;
                            }
                        }
                    };
                    tokio::select! { _ = up => {}, _ = down => {} }
                });
            }
        });
        FlakyBroker {
            broker,
            proxy,
            cuts,
            enabled,
        }
    }

    pub fn bootstrap(&self) -> String {
        self.proxy.to_string()
    }
}

//! `runnel serve`.

use anyhow::{Context, Result};
use runnel_broker::{BrokerConfig, ConfigSources};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A server.properties file with Kafka configuration keys.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A configuration key=value; repeatable; overrides the file.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    let mut sources = ConfigSources::default();
    if let Some(f) = &args.config {
        sources.load_file(f)?;
    }
    for s in &args.sets {
        sources.set_arg(s)?;
    }
    sources.load_env(std::env::vars());
    let config = BrokerConfig::from_sources(sources)?;
    // num.network.threads sizes the async runtime serving connections; num.io.threads sizes
    // the blocking pool used for fsync, topic creation/deletion, retention and compaction.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.num_network_threads)
        .max_blocking_threads(config.num_io_threads)
        .thread_name("runnel")
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        // The handlers are installed before the broker listens, so a SIGTERM sent once
        // "broker listening" is logged always shuts down cleanly instead of killing the process.
        let signals = Signals::install();
        let broker = runnel_broker::start(config).await?;
        let stop = broker.shutdown_sender();
        tokio::spawn(async move {
            signals.wait().await;
            tracing::info!("signal received: shutting down");
            let _ = stop.send(true);
        });
        broker.wait().await;
        Ok(())
    })
}

/// SIGTERM and SIGINT, or Ctrl-C where those cannot be installed.
enum Signals {
    Unix {
        term: tokio::signal::unix::Signal,
        int: tokio::signal::unix::Signal,
    },
    CtrlC,
}

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Signals::Unix { term, int },
            _ => Signals::CtrlC,
        }
    }

    async fn wait(self) {
        match self {
            Signals::Unix { mut term, mut int } => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            Signals::CtrlC => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

//! `runnel`: the Runnel command-line tool.
//!
//! `runnel serve` starts a broker. Configuration uses Kafka's key names from, in increasing
//! precedence: `--config server.properties`, `--set key=value` (repeatable), and `RUNNEL_`
//! environment variables (`RUNNEL_LOG_RETENTION_MS=1000` sets `log.retention.ms`).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use runnel_broker::{BrokerConfig, ConfigSources};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "runnel",
    version,
    about = "A Kafka-compatible event-streaming broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a single-node broker (default: 127.0.0.1:9092, data in ./runnel-data).
    Serve {
        /// A server.properties file with Kafka configuration keys.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// A configuration key=value; repeatable; overrides the file.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("runnel: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve { config, sets } => serve(config, sets),
    }
}

fn serve(file: Option<PathBuf>, sets: Vec<String>) -> Result<()> {
    let mut sources = ConfigSources::default();
    if let Some(f) = &file {
        sources.load_file(f)?;
    }
    for s in &sets {
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
        let broker = runnel_broker::start(config).await?;
        let stop = broker.shutdown_sender();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("signal received: shutting down");
            let _ = stop.send(true);
        });
        broker.wait().await;
        Ok(())
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

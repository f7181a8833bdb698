//! `runnel`: the Runnel command-line tool.
//!
//! `runnel serve` starts a broker. Configuration uses Kafka's key names from, in increasing
//! precedence: `--config server.properties`, `--set key=value` (repeatable), and `RUNNEL_`
//! environment variables (`RUNNEL_LOG_RETENTION_MS=1000` sets `log.retention.ms`).
//!
//! The other subcommands operate a running broker (Runnel or Kafka) through the native client
//! (`runnel-client`), one file per command group under `cmd/`: `topic`, `produce`, `consume`,
//! `group`, `cluster`, `perf`. They find the broker with `--bootstrap-server` or `RUNNEL_BOOTSTRAP`
//! (default 127.0.0.1:9092), print tables for people and `--json` for scripts, and exit
//! non-zero with a one-line error when the broker is unreachable or a topic is unknown.

mod cmd;
mod output;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::future::Future;

#[derive(Parser)]
#[command(
    name = "runnel",
    version,
    about = "A Kafka-compatible event-streaming broker"
)]
struct Cli {
    #[command(flatten)]
    connect: Connect,
    #[command(subcommand)]
    command: Command,
}

/// Where the operator subcommands find the cluster.
#[derive(clap::Args, Clone, Debug)]
pub struct Connect {
    /// host:port of a broker (comma separated for several).
    #[arg(
        long = "bootstrap-server",
        env = "RUNNEL_BOOTSTRAP",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    pub bootstrap: String,
}

#[derive(Subcommand)]
enum Command {
    /// Start a single-node broker (default: 127.0.0.1:9092, data in ./runnel-data).
    Serve(cmd::serve::Args),
    /// Create, list, describe, configure, grow and delete topics.
    #[command(subcommand)]
    Topic(cmd::topic::TopicCmd),
    /// Produce lines from stdin (or a file) to a topic.
    Produce(cmd::produce::Args),
    /// Consume records from a topic and print them.
    Consume(cmd::consume::Args),
    /// List, describe, reset offsets of and delete consumer groups.
    #[command(subcommand)]
    Group(cmd::group::GroupCmd),
    /// Describe the cluster.
    #[command(subcommand)]
    Cluster(cmd::cluster::ClusterCmd),
    /// Measure produce or consume throughput and latency.
    #[command(subcommand)]
    Perf(cmd::perf::PerfCmd),
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
        Command::Serve(args) => cmd::serve::run(args),
        Command::Topic(c) => block_on(cmd::topic::run(&cli.connect.bootstrap, c)),
        Command::Produce(a) => block_on(cmd::produce::run(&cli.connect.bootstrap, a)),
        Command::Consume(a) => block_on(cmd::consume::run(&cli.connect.bootstrap, a)),
        Command::Group(c) => block_on(cmd::group::run(&cli.connect.bootstrap, c)),
        Command::Cluster(c) => block_on(cmd::cluster::run(&cli.connect.bootstrap, c)),
        Command::Perf(c) => block_on(cmd::perf::run(&cli.connect.bootstrap, c)),
    }
}

/// Runs an operator command on a small runtime.
fn block_on<F: Future<Output = Result<()>>>(f: F) -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(f)
}

//! One module per command group.

pub mod cluster;
pub mod consume;
pub mod group;
pub mod perf;
pub mod produce;
pub mod serve;
pub mod topic;

use anyhow::{Context, Result};
use runnel_client::{Admin, CommonConfig};

/// An admin client for `--bootstrap-server`, with a clear error when nothing answers.
pub async fn admin(bootstrap: &str) -> Result<Admin> {
    let cfg = CommonConfig::from_pairs(&[
        ("bootstrap.servers", bootstrap),
        ("request.timeout.ms", "10000"),
    ])?;
    Admin::connect(cfg)
        .await
        .with_context(|| format!("cannot reach the cluster at {bootstrap}"))
}

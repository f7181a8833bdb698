//! Background work over every partition: retention and time-based rolls
//! (`log.retention.check.interval.ms`), time-based flushes (`flush.ms`, checked every
//! `log.flush.scheduler.interval.ms` capped at one second), compaction (`log.cleaner.backoff.ms`)
//! and expiry of idle producer state. Disk work runs on the blocking pool (`num.io.threads`),
//! at most `background.threads` partitions at a time.

use crate::clock::now_ms;
use crate::state::partition::Partition;
use crate::state::BrokerState;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The flusher never sleeps longer than this, so `flush.ms` set per topic is honoured even when
/// the broker-wide scheduler interval is "never".
const MAX_FLUSH_CHECK_MS: i64 = 1000;

pub async fn run(state: Arc<BrokerState>, mut shutdown: watch::Receiver<bool>) {
    let c = &state.config;
    let mut retention = tokio::time::interval(Duration::from_millis(
        c.log_retention_check_interval_ms as u64,
    ));
    let flush_ms = c
        .log_flush_scheduler_interval_ms
        .clamp(1, MAX_FLUSH_CHECK_MS);
    let mut flush = tokio::time::interval(Duration::from_millis(flush_ms as u64));
    let mut cleaner = tokio::time::interval(Duration::from_millis(c.log_cleaner_backoff_ms as u64));
    for t in [&mut retention, &mut flush, &mut cleaner] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = retention.tick() => {
                let expiration_ms = state.config.producer_id_expiration_ms;
                for_each_partition(&state, "retention", move |p| {
                    let now = now_ms();
                    p.expire_producers(now, expiration_ms);
                    p.with_log(|log| {
                        log.roll_if_due(now)?;
                        log.enforce_retention(now).map(|_| ())
                    })
                }).await;
            }
            _ = flush.tick() => {
                for_each_partition(&state, "flush", |p| p.with_log(|log| log.maybe_flush(now_ms()).map(|_| ()))).await;
            }
            _ = cleaner.tick() => {
                for_each_partition(&state, "compaction", |p| p.with_log(|log| log.compact(now_ms()).map(|_| ()))).await;
            }
            _ = shutdown.changed() => break,
        }
    }
}

/// Runs `work` on every partition on the blocking pool, `background.threads` at a time.
async fn for_each_partition(
    state: &Arc<BrokerState>,
    what: &'static str,
    work: impl Fn(&Partition) -> Result<(), runnel_log::LogError> + Send + Sync + Clone + 'static,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for p in state.topics.all_partitions() {
        let Ok(slot) = state.background_slots.clone().acquire_owned().await else {
            return;
        };
        let work = work.clone();
        tasks.spawn_blocking(move || {
            if let Err(e) = work(&p) {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "{what} failed");
            }
            drop(slot);
        });
    }
    while tasks.join_next().await.is_some() {}
}

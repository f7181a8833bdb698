//! Background work over every partition: retention and time-based rolls
//! (`log.retention.check.interval.ms`), time-based flushes (`flush.ms`, checked every
//! `log.flush.scheduler.interval.ms` capped at one second), compaction (`log.cleaner.backoff.ms`)
//! and expiry of idle producer state. Every pass runs on the blocking pool (`num.io.threads`),
//! never on the async workers: retention and flushes at most `background.threads` partitions
//! at a time, compaction at most `log.cleaner.threads`. The slow parts (fsyncs, deleting
//! segment files, building a compacted segment) run without the partition's lock, so appends
//! and fetches of that partition go on meanwhile.

use crate::clock::now_ms;
use crate::state::partition::Partition;
use crate::state::BrokerState;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// The flusher never sleeps longer than this, so `flush.ms` set per topic is honoured even when
/// the broker-wide scheduler interval is "never".
const MAX_FLUSH_CHECK_MS: i64 = 1000;

pub async fn run(state: Arc<BrokerState>, shutdown: watch::Receiver<bool>) {
    let c = &state.config;
    let flush_ms = c
        .log_flush_scheduler_interval_ms
        .clamp(1, MAX_FLUSH_CHECK_MS);
    // Three loops, so that a long compaction pass does not hold up flushes or retention.
    let retention_ms = c.log_retention_check_interval_ms;
    let retention = every(move || retention_ms, shutdown.clone(), {
        let state = state.clone();
        move || {
            let state = state.clone();
            async move {
                // Dynamic in Kafka: read afresh every pass.
                let expiration_ms = state
                    .broker_long("producer.id.expiration.ms")
                    .unwrap_or(state.config.producer_id_expiration_ms);
                for_each_partition(&state, &state.background_slots, "retention", move |p| {
                    let now = now_ms();
                    p.expire_producers(now, expiration_ms);
                    p.with_log(|log| {
                        log.roll_if_due(now)?;
                        log.enforce_retention(now).map(|_| ())
                    })
                })
                .await
            }
        }
    });
    let flush = every(move || flush_ms, shutdown.clone(), {
        let state = state.clone();
        move || {
            let state = state.clone();
            async move {
                for_each_partition(&state, &state.background_slots, "flush", |p| {
                    p.flush_if_due(now_ms())?;
                    // Hands over segment files whose file.delete.delay.ms has passed.
                    p.with_log(|_| ());
                    Ok(())
                })
                .await
            }
        }
    });
    let backoff = {
        let state = state.clone();
        move || {
            state
                .broker_long("log.cleaner.backoff.ms")
                .unwrap_or(state.config.log_cleaner_backoff_ms)
        }
    };
    let compaction = every(backoff, shutdown, {
        let state = state.clone();
        move || {
            let state = state.clone();
            async move {
                let budget = state.config.cleaner_budget();
                for_each_partition(&state, &state.cleaner_slots, "compaction", move |p| {
                    p.compact(now_ms(), budget).map(|_| ())
                })
                .await
            }
        }
    });
    tokio::join!(retention, flush, compaction);
}

/// Runs `pass` every `interval_ms()` (a pass that overruns delays the next) until shutdown. The
/// interval is read again after each pass, so a dynamic broker config change applies.
async fn every<I, F, Fut>(interval_ms: I, mut shutdown: watch::Receiver<bool>, mut pass: F)
where
    I: Fn() -> i64,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let ticker = |ms: i64| {
        let mut tick = tokio::time::interval(Duration::from_millis(ms.max(1) as u64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick
    };
    let mut current_ms = interval_ms();
    let mut tick = ticker(current_ms);
    loop {
        tokio::select! {
            _ = tick.tick() => pass().await,
            _ = shutdown.changed() => break,
        }
        if interval_ms() != current_ms {
            current_ms = interval_ms();
            tick = ticker(current_ms);
            // A fresh interval fires at once; the pass just ran.
            tick.tick().await;
        }
    }
}

/// Runs `work` on every partition on the blocking pool, as many at a time as `slots` allows.
async fn for_each_partition(
    state: &Arc<BrokerState>,
    slots: &Arc<Semaphore>,
    what: &'static str,
    work: impl Fn(&Partition) -> Result<(), runnel_log::LogError> + Send + Sync + Clone + 'static,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for p in state.topics.all_partitions() {
        let Ok(slot) = slots.clone().acquire_owned().await else {
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

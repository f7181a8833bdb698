//! Changing dynamic broker configs at run time: validate (Kafka's rules, see
//! [`crate::config::dynamic`]), persist, then apply: topics inherit new `log.*` defaults at once,
//! `background.threads` resizes the background pool, and the background loops read
//! `log.cleaner.backoff.ms` and `producer.id.expiration.ms` afresh. Keys sized at start-up
//! (`num.io.threads`, `num.network.threads`, `max.connections`, and `min.insync.replicas` for
//! topics without an override) are stored and shown, and take effect at the next start.

use super::BrokerState;
use crate::config::dynamic::{self, Layers, Target};
use crate::config::topic::TopicDefaults;
use crate::error::{BrokerError, BrokerResult};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

impl BrokerState {
    /// The dynamic broker configs now.
    pub fn dynamic_configs(&self) -> Layers {
        self.dynamic.read().clone()
    }

    /// The value of a broker key now: dynamic (this broker's, then the cluster default), then
    /// `server.properties`, then the default.
    pub fn broker_value(&self, key: &str) -> Option<String> {
        effective(&self.dynamic.read(), self, key)
    }

    /// `broker_value` parsed as an integer, for keys validated as such.
    pub fn broker_long(&self, key: &str) -> Option<i64> {
        self.broker_value(key)?.trim().parse().ok()
    }

    /// Replaces `target`'s dynamic configs with what `change` makes of them, if Kafka would
    /// accept the result; with `validate_only`, only checks.
    pub fn alter_broker_configs(
        &self,
        target: Target,
        validate_only: bool,
        change: impl FnOnce(&BTreeMap<String, String>) -> BrokerResult<BTreeMap<String, String>>,
    ) -> BrokerResult<()> {
        let _serial = self.broker_config_changes.lock();
        let old = self.dynamic_configs();
        let level = change(old.level(target))?;
        dynamic::validate_level(target, &level)?;
        let new = old.with_level(target, level);
        dynamic::check_thread_counts(&|k| effective(&old, self, k), &|k| effective(&new, self, k))?;
        let defaults = TopicDefaults::resolve(&|k| effective(&new, self, k))
            .map_err(|e| BrokerError::InvalidRequest(e.to_string()))?;
        if validate_only || new == old {
            return Ok(());
        }
        self.topics.change_defaults(defaults, || {
            new.store(&self.config.log_dirs[0])
                .map_err(|e| BrokerError::Log(runnel_log::LogError::Io(e)))?;
            *self.dynamic.write() = new.clone();
            Ok(())
        })?;
        self.resize_background_slots();
        tracing::info!(?target, "dynamic broker configs changed");
        Ok(())
    }

    /// Makes the background pool's permits match `background.threads`. Shrinking takes
    /// permits as running tasks return them.
    fn resize_background_slots(&self) {
        let want = self.broker_long("background.threads").unwrap_or(1).max(1) as usize;
        let have = self.background_threads.swap(want, Ordering::SeqCst);
        if want > have {
            self.background_slots.add_permits(want - have);
        } else if want < have {
            let slots = self.background_slots.clone();
            let extra = (have - want) as u32;
            let forgotten = slots.forget_permits(extra as usize) as u32;
            if forgotten < extra {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move {
                        if let Ok(p) = slots.acquire_many_owned(extra - forgotten).await {
                            p.forget();
                        }
                    });
                }
            }
        }
    }
}

fn effective(layers: &Layers, state: &BrokerState, key: &str) -> Option<String> {
    layers
        .get(key)
        .cloned()
        .or_else(|| state.config.static_value(key))
}

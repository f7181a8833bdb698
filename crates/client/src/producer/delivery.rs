//! What a record's [`DeliveryFuture`] waits on: its batch's outcome, shared by every record of
//! the batch.

use super::{RecordMetadata, Tp};
use crate::error::Result;
use parking_lot::Mutex;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// How a batch ended: its base offset and LogAppendTime (-1 for CreateTime), or the error.
pub(super) struct Done {
    pub(super) result: Result<(i64, i64)>,
    pub(super) at: Instant,
}

/// A batch's outcome, shared by the batch and the [`DeliveryFuture`]s of all its records:
/// a record costs one reference count here instead of a channel of its own, and completing
/// a batch is one store and one wake-up per waiting task, whatever its record count.
pub(super) struct BatchOutcome {
    pub(super) tp: Tp,
    pub(super) done: OnceLock<Done>,
    /// Tasks waiting on a record of this batch (usually one: futures are awaited in order).
    pub(super) wakers: Mutex<Vec<Waker>>,
}

impl BatchOutcome {
    pub(super) fn set(&self, result: Result<(i64, i64)>) {
        let _ = self.done.set(Done {
            result,
            at: Instant::now(),
        });
        // Taken after the store: a poll that registered before it is woken here, and one
        // that comes after sees the store (it re-checks under this lock).
        let wakers = std::mem::take(&mut *self.wakers.lock());
        for w in wakers {
            w.wake();
        }
    }
}

/// Resolves when the record is acknowledged (or failed).
pub struct DeliveryFuture {
    pub(super) outcome: Arc<BatchOutcome>,
    pub(super) offset_delta: i32,
    pub(super) timestamp: i64,
    /// This future's entry in `outcome.wakers`, once it has waited.
    pub(super) waker_slot: Option<usize>,
}

impl DeliveryFuture {
    fn metadata(&self, done: &Done) -> Result<RecordMetadata> {
        let (base, log_append_time) = done.result.clone()?;
        Ok(RecordMetadata {
            topic: self.outcome.tp.0.clone(),
            partition: self.outcome.tp.1,
            offset: if base < 0 {
                -1
            } else {
                base + self.offset_delta as i64
            },
            timestamp: if log_append_time >= 0 {
                log_append_time
            } else {
                self.timestamp
            },
        })
    }

    /// The outcome without waiting; `None` while the record is queued or in flight.
    pub fn try_result(&self) -> Option<Result<RecordMetadata>> {
        self.outcome.done.get().map(|d| self.metadata(d))
    }

    /// When the record's batch completed (acknowledged or failed), without building its
    /// metadata; `None` while pending. For latency measurements such as `runnel perf`.
    pub fn completed_at(&self) -> Option<(Instant, bool)> {
        self.outcome.done.get().map(|d| (d.at, d.result.is_ok()))
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(d) = self.outcome.done.get() {
            return Poll::Ready(self.metadata(d));
        }
        let mut wakers = self.outcome.wakers.lock();
        if let Some(d) = self.outcome.done.get() {
            drop(wakers);
            return Poll::Ready(self.metadata(d));
        }
        // Each future keeps its own slot: many tasks awaiting records of one batch cost one
        // entry each, and a task polled again replaces its entry instead of adding one.
        match self.waker_slot {
            Some(i) if wakers[i].will_wake(cx.waker()) => {}
            Some(i) => wakers[i] = cx.waker().clone(),
            None => {
                wakers.push(cx.waker().clone());
                let slot = wakers.len() - 1;
                drop(wakers);
                self.waker_slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::super::accumulator::ProducerBatch;
    use super::*;
    use crate::error::ClientError;

    fn batch_with_records(n: i32) -> (ProducerBatch, Vec<DeliveryFuture>) {
        let b = ProducerBatch::new(("t".to_string(), 3), 1_000, 1024);
        let futures = (0..n)
            .map(|i| DeliveryFuture {
                outcome: b.outcome.clone(),
                offset_delta: i,
                timestamp: 1_000 + i as i64,
                waker_slot: None,
            })
            .collect();
        (b, futures)
    }

    #[tokio::test]
    async fn a_future_awaited_before_its_batch_completes_is_woken_with_its_own_offset() {
        let (b, mut futures) = batch_with_records(3);
        let last = futures.pop().expect("three futures");
        let waiter = tokio::spawn(last);
        tokio::task::yield_now().await;
        assert!(
            futures[0].try_result().is_none(),
            "pending before completion"
        );
        b.outcome.set(Ok((100, -1)));
        let md = waiter.await.expect("task").expect("acknowledged");
        assert_eq!((md.topic.as_str(), md.partition, md.offset), ("t", 3, 102));
        assert_eq!(
            md.timestamp, 1_002,
            "CreateTime is the record's own timestamp"
        );
        let first = futures[0].try_result().expect("done").expect("ok");
        assert_eq!(first.offset, 100);
    }

    #[tokio::test]
    async fn every_task_awaiting_a_record_of_the_batch_is_woken_once_it_completes() {
        let (b, futures) = batch_with_records(1000);
        let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
        while b.outcome.wakers.lock().len() < 1000 {
            tokio::task::yield_now().await;
        }
        b.outcome.set(Ok((0, -1)));
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.expect("task").expect("ok").offset, i as i64);
        }
    }

    #[test]
    fn a_future_polled_again_and_again_keeps_a_single_waker_entry() {
        let (b, mut futures) = batch_with_records(1);
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..100 {
            assert!(Pin::new(&mut futures[0]).poll(&mut cx).is_pending());
        }
        assert_eq!(b.outcome.wakers.lock().len(), 1);
    }

    #[tokio::test]
    async fn log_append_time_from_the_broker_replaces_every_records_timestamp() {
        let (b, futures) = batch_with_records(2);
        b.outcome.set(Ok((7, 55_555)));
        for f in futures {
            assert_eq!(f.await.expect("ok").timestamp, 55_555);
        }
    }

    #[tokio::test]
    async fn a_batch_dropped_without_an_outcome_fails_its_records_as_closed() {
        let (b, futures) = batch_with_records(2);
        drop(b);
        for f in futures {
            assert!(matches!(f.await, Err(ClientError::Closed)));
        }
    }

    #[tokio::test]
    async fn a_failed_batch_reports_the_failure_and_its_completion_time() {
        let (b, futures) = batch_with_records(1);
        b.outcome.set(Err(ClientError::kafka(6, None)));
        let (_, ok) = futures[0].completed_at().expect("completed");
        assert!(!ok);
        assert_eq!(
            futures[0].try_result().expect("done").unwrap_err().code(),
            Some(6)
        );
    }
}

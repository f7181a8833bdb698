//! Limits shared by all connections, as Kafka's network layer keeps them, and gauges that show
//! where requests are (for tests and for operators reading logs).
//!
//! - `queued.max.requests`: a slot per whole request being processed. A request takes one only
//!   once it has been read completely, and gives it back when its handler returns or parks
//!   (see [`crate::connection::park`]).
//! - `queued.max.request.bytes` (when positive): bytes of frames being read or processed
//!   (parked ones included). A connection reserves a frame's declared size before reading its
//!   body, so partially read frames across all connections never hold more than this.
//! - `max.connections.per.ip` and its overrides: connections open at once per client address.

use crate::config::BrokerConfig;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

pub struct Network {
    request_slots: Arc<Semaphore>,
    request_bytes: Option<ByteBudget>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    limits: crate::config::network::NetworkLimits,
    gauges: Gauges,
}

#[derive(Default)]
struct Gauges {
    open_connections: AtomicUsize,
    reading_frames: AtomicUsize,
    waiting_for_memory: AtomicUsize,
    waiting_for_slot: AtomicUsize,
    parked_requests: AtomicUsize,
    parked_wakeups: AtomicUsize,
    frame_bytes: AtomicUsize,
    partial_frame_bytes: AtomicUsize,
    bytes_read: AtomicUsize,
}

/// A snapshot of the gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkStats {
    pub open_connections: usize,
    /// Connections that have read a frame's size and not yet all of its body (including those
    /// waiting for `queued.max.request.bytes`).
    pub reading_frames: usize,
    /// Of those, the ones waiting for `queued.max.request.bytes` before reading the body.
    pub waiting_for_memory: usize,
    /// Whole requests waiting for a `queued.max.requests` slot.
    pub waiting_for_slot: usize,
    /// `queued.max.requests` slots free.
    pub free_request_slots: usize,
    /// Requests that gave their slot back while they wait (long polls, group joins).
    pub parked_requests: usize,
    /// How often a parked request was woken by the event it waits for (not by its deadline).
    pub parked_wakeups: usize,
    /// Declared bytes of the frames being read or processed.
    pub frame_bytes: usize,
    /// Body bytes read so far into frames not yet read whole: the memory partially read
    /// frames hold (the per-connection read buffers aside).
    pub partial_frame_bytes: usize,
    /// Bytes read from client sockets since start.
    pub bytes_read: usize,
}

#[derive(Clone, Copy)]
enum Gauge {
    OpenConnections,
    ReadingFrames,
    WaitingForMemory,
    WaitingForSlot,
    ParkedRequests,
}

impl Network {
    pub fn new(config: &BrokerConfig) -> Network {
        let limits = config.network.clone();
        Network {
            request_slots: Arc::new(Semaphore::new(config.queued_max_requests)),
            request_bytes: limits.queued_max_request_bytes.map(ByteBudget::new),
            per_ip: Mutex::new(HashMap::new()),
            limits,
            gauges: Gauges::default(),
        }
    }

    pub fn stats(&self) -> NetworkStats {
        let g = &self.gauges;
        let get = |a: &AtomicUsize| a.load(Ordering::Acquire);
        NetworkStats {
            open_connections: get(&g.open_connections),
            reading_frames: get(&g.reading_frames),
            waiting_for_memory: get(&g.waiting_for_memory),
            waiting_for_slot: get(&g.waiting_for_slot),
            free_request_slots: self.request_slots.available_permits(),
            parked_requests: get(&g.parked_requests),
            parked_wakeups: get(&g.parked_wakeups),
            frame_bytes: get(&g.frame_bytes),
            partial_frame_bytes: get(&g.partial_frame_bytes),
            bytes_read: get(&g.bytes_read),
        }
    }

    /// The `queued.max.requests` semaphore (tests take slots from it to fill the queue).
    pub fn request_slots(&self) -> &Arc<Semaphore> {
        &self.request_slots
    }

    fn gauge(&self, g: Gauge) -> &AtomicUsize {
        let gs = &self.gauges;
        match g {
            Gauge::OpenConnections => &gs.open_connections,
            Gauge::ReadingFrames => &gs.reading_frames,
            Gauge::WaitingForMemory => &gs.waiting_for_memory,
            Gauge::WaitingForSlot => &gs.waiting_for_slot,
            Gauge::ParkedRequests => &gs.parked_requests,
        }
    }

    fn count(self: &Arc<Self>, g: Gauge) -> Counted {
        self.gauge(g).fetch_add(1, Ordering::AcqRel);
        Counted {
            network: self.clone(),
            gauge: g,
        }
    }

    /// Counts a new connection from `ip`, or `None` when `ip` already has as many as
    /// `max.connections.per.ip` (or its override) allows: Kafka then closes it at accept.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let ip = ip.to_canonical();
        let max = self.limits.max_connections_from(ip);
        let mut per_ip = self.per_ip.lock();
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= max {
            if *count == 0 {
                per_ip.remove(&ip);
            }
            return None;
        }
        *count += 1;
        drop(per_ip);
        Some(Admitted {
            ip,
            _open: self.count(Gauge::OpenConnections),
            network: self.clone(),
        })
    }

    pub(crate) fn reading_frame(self: &Arc<Self>) -> Counted {
        self.count(Gauge::ReadingFrames)
    }

    /// Reserves `size_bytes` of `queued.max.request.bytes`, waiting until they fit. Start-up
    /// checked that the budget is at least `socket.request.max.bytes`, which bounds
    /// `size_bytes`, so every frame fits once the frames before it finish.
    pub(crate) async fn reserve_frame(self: &Arc<Self>, size_bytes: usize) -> FrameBytes {
        let mut reserved = false;
        if let Some(budget) = &self.request_bytes {
            if !budget.try_take(size_bytes) {
                let _waiting = self.count(Gauge::WaitingForMemory);
                budget.take(size_bytes).await;
            }
            reserved = true;
        }
        self.gauges
            .frame_bytes
            .fetch_add(size_bytes, Ordering::AcqRel);
        FrameBytes {
            network: self.clone(),
            size_bytes,
            reserved,
        }
    }

    /// Waits for a `queued.max.requests` slot for a request that has been read whole.
    pub(crate) async fn request_slot(self: &Arc<Self>) -> OwnedSemaphorePermit {
        let _waiting = self.count(Gauge::WaitingForSlot);
        self.request_slots
            .clone()
            .acquire_owned()
            .await
            .expect("never closed")
    }

    pub(crate) fn parked(self: &Arc<Self>) -> Counted {
        self.count(Gauge::ParkedRequests)
    }

    pub(crate) fn partial_frame_grew(&self, n: usize) {
        self.gauges
            .partial_frame_bytes
            .fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn partial_frame_done(&self, n: usize) {
        self.gauges
            .partial_frame_bytes
            .fetch_sub(n, Ordering::Relaxed);
    }

    pub(crate) fn record_read(&self, n: usize) {
        self.gauges.bytes_read.fetch_add(n, Ordering::Relaxed);
    }

    /// A parked request was woken by what it waits for and looks again.
    pub fn record_wakeup(&self) {
        self.gauges.parked_wakeups.fetch_add(1, Ordering::AcqRel);
    }
}

/// One count of a gauge, given back on drop.
pub(crate) struct Counted {
    network: Arc<Network>,
    gauge: Gauge,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.network
            .gauge(self.gauge)
            .fetch_sub(1, Ordering::AcqRel);
    }
}

/// An open connection counted against its address's limit.
pub(crate) struct Admitted {
    ip: IpAddr,
    network: Arc<Network>,
    _open: Counted,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut per_ip = self.network.per_ip.lock();
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// A frame's share of `queued.max.request.bytes`, held from before its body is read until its
/// request finishes. A parked request keeps it: its decoded request still points into the frame.
pub(crate) struct FrameBytes {
    network: Arc<Network>,
    size_bytes: usize,
    reserved: bool,
}

impl Drop for FrameBytes {
    fn drop(&mut self) {
        self.network
            .gauges
            .frame_bytes
            .fetch_sub(self.size_bytes, Ordering::AcqRel);
        if let (true, Some(budget)) = (self.reserved, &self.network.request_bytes) {
            budget.give_back(self.size_bytes);
        }
    }
}

/// `queued.max.request.bytes` as a first-fit budget: a frame waits only if it does not fit in
/// what is free, so small requests still get in while large frames wait (a semaphore's FIFO
/// order would queue a fresh client's 100-byte request behind every waiting 1 MB frame). The
/// price is that a steady stream of small frames can delay a large one.
struct ByteBudget {
    free_bytes: Mutex<usize>,
    freed: Notify,
}

impl ByteBudget {
    fn new(bytes: usize) -> ByteBudget {
        ByteBudget {
            free_bytes: Mutex::new(bytes),
            freed: Notify::new(),
        }
    }

    fn try_take(&self, n: usize) -> bool {
        let mut free = self.free_bytes.lock();
        if *free >= n {
            *free -= n;
            return true;
        }
        false
    }

    async fn take(&self, n: usize) {
        loop {
            // Registered before the check, so a give_back between check and wait is not lost.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.try_take(n) {
                return;
            }
            freed.await;
        }
    }

    fn give_back(&self, n: usize) {
        *self.free_bytes.lock() += n;
        self.freed.notify_waiters();
    }
}

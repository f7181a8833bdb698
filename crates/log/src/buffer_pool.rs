//! Reusable read buffers for fetches.
//!
//! A fetch reads up to megabytes per partition. Fresh allocations of that size come from `mmap`
//! and cost a page fault and a page clear for every 4 KiB, which profiling showed to be the
//! largest broker cost when consuming many partitions. Buffers handed out here go back to a
//! small pool when the `Bytes` made from them is dropped (after the response is written), so
//! steady-state fetches reuse warm, already-initialised memory and skip zeroing.

use bytes::Bytes;
use parking_lot::Mutex;

/// Buffers larger than this are not kept.
const MAX_POOLED_BUFFER_BYTES: usize = 16 * 1024 * 1024;
/// Upper bound on memory held by idle pooled buffers.
const MAX_POOL_BYTES: usize = 32 * 1024 * 1024;

struct Pool {
    buffers: Vec<Vec<u8>>,
    held_bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    buffers: Vec::new(),
    held_bytes: 0,
});

/// A buffer of exactly `len` initialised bytes (contents unspecified), pooled if possible.
pub(crate) fn take(len: usize) -> Vec<u8> {
    let reused = {
        let mut pool = POOL.lock();
        let best = pool
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        best.map(|i| {
            let b = pool.buffers.swap_remove(i);
            pool.held_bytes -= b.capacity();
            b
        })
    };
    let mut buf = reused.unwrap_or_default();
    if buf.len() >= len {
        buf.truncate(len);
    } else {
        buf.resize(len, 0);
    }
    buf
}

/// Wraps `buf` so that it returns to the pool when the last `Bytes` referring to it drops.
pub(crate) fn into_bytes(buf: Vec<u8>) -> Bytes {
    Bytes::from_owner(Pooled(buf))
}

struct Pooled(Vec<u8>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.0);
        let capacity = buf.capacity();
        if capacity == 0 || capacity > MAX_POOLED_BUFFER_BYTES {
            return;
        }
        // Keep the whole capacity initialised so the next `take` need not zero it.
        buf.resize(capacity, 0);
        let mut pool = POOL.lock();
        if pool.held_bytes + capacity <= MAX_POOL_BYTES {
            pool.held_bytes += capacity;
            pool.buffers.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_buffer_is_reused_for_the_next_read_of_similar_size() {
        let buf = take(100_000);
        let ptr = buf.as_ptr();
        drop(into_bytes(buf));
        let again = take(90_000);
        assert_eq!(again.len(), 90_000);
        assert_eq!(again.as_ptr(), ptr, "the pooled buffer was not reused");
    }

    #[test]
    fn buffers_over_the_size_limit_are_not_kept() {
        let buf = take(MAX_POOLED_BUFFER_BYTES + 1);
        drop(into_bytes(buf));
        assert!(POOL.lock().held_bytes <= MAX_POOL_BYTES);
    }
}

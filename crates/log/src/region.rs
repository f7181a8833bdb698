//! Fetch reads as file regions: the same whole batches as [`Log::read`], returned as a range of
//! the segment file instead of bytes, so the broker can hand them to `sendfile(2)` and the data
//! goes from the page cache to the socket without being copied through user space.
//!
//! Finding where the region ends must not read the data either: the sparse offset index says
//! where batches start, so the end is found by jumping to the last indexed batch that still
//! fits and then reading only the headers of the few batches after it.
//!
//! A region holds the segment's file open (`Arc<File>`). Retention unlinks segment files and
//! compaction renames cleaned files over them; on Unix an open file keeps its inode and data,
//! so a region taken before either still reads exactly the batches it was cut from.

use crate::log::Log;
use crate::segment::Segment;
use crate::LogError;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// `len` bytes of whole record batches at `position` in a segment file.
#[derive(Debug, Clone)]
pub struct FileRegion {
    pub file: Arc<File>,
    pub position: u64,
    pub len: usize,
}

impl FileRegion {
    /// The region's bytes, for callers that cannot send the file directly. Errors if the file
    /// became shorter than the region (truncated after the region was taken).
    pub fn read_to_vec(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(buf)
    }
}

impl Log {
    /// The batches [`Log::read`] would return for the same arguments, as a file region;
    /// `None` where `read` returns no bytes.
    pub fn read_region(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound_offset: i64,
    ) -> Result<Option<FileRegion>, LogError> {
        let Some((seg, start, first)) = self.first_fetch_batch(offset, upper_bound_offset)? else {
            return Ok(None);
        };
        let end = region_end(
            seg,
            start,
            first.total_size_bytes(),
            max_bytes,
            upper_bound_offset,
        );
        Ok(Some(FileRegion {
            file: Arc::clone(&seg.file),
            position: start,
            len: (end - start) as usize,
        }))
    }
}

/// End position of the whole batches a fetch returns from `start`: the first batch
/// (`first_size_bytes`, always included), then each following batch of the segment that starts
/// below `upper_bound_offset` and ends within `max_bytes` of `start`.
fn region_end(
    seg: &Segment,
    start: u64,
    first_size_bytes: usize,
    max_bytes: usize,
    upper_bound_offset: i64,
) -> u64 {
    let limit = start + max_bytes as u64;
    let mut end = start + first_size_bytes as u64;
    // Every index entry is the start of a batch. All batches before an entry at position
    // `<= limit` whose base offset is `<= upper_bound_offset` end by `limit` and start below the
    // bound, so the walk can begin there. Positions and offsets both increase along the index,
    // so the entries meeting all three conditions are a prefix.
    let entries = seg.offset_index.entries();
    let fitting = entries.partition_point(|e| {
        let position = e.position as u64;
        position <= limit
            && position <= seg.size_bytes
            && seg.base_offset + e.relative_offset as i64 <= upper_bound_offset
    });
    if let Some(e) = fitting.checked_sub(1).map(|i| entries[i]) {
        end = end.max(e.position as u64);
    }
    // A header that cannot be read ends the region, as it ends `Log::read`'s in-memory walk;
    // a fetch starting at that batch reports the problem.
    while let Ok(Some(h)) = seg.header_at(end) {
        let next = end + h.total_size_bytes() as u64;
        if h.base_offset >= upper_bound_offset || next > limit {
            break;
        }
        end = next;
    }
    end
}

//! Pieces of a response frame as the connection writes them: encoded bytes, or a range of a
//! file (a fetch's record batches in a log segment) that the connection sends with
//! `sendfile(2)`, so record data goes from the page cache to the socket without passing
//! through user space.

use bytes::Bytes;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum Chunk {
    Bytes(Bytes),
    File(FileChunk),
}

/// `len` bytes at `position` of `file`. The file is held open, so the range stays readable
/// even if the file is unlinked before the response is written.
#[derive(Debug, Clone)]
pub struct FileChunk {
    pub file: Arc<File>,
    pub position: u64,
    pub len: usize,
}

impl FileChunk {
    /// Reads the range; errors if the file has become shorter than the range.
    pub fn read_to_vec(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(buf)
    }
}

impl Chunk {
    pub fn len(&self) -> usize {
        match self {
            Chunk::Bytes(b) => b.len(),
            Chunk::File(f) => f.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chunk's bytes (a read for a file chunk): for tests and fallbacks.
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        match self {
            Chunk::Bytes(b) => Ok(b.clone()),
            Chunk::File(f) => f.read_to_vec().map(Bytes::from),
        }
    }
}

impl From<Bytes> for Chunk {
    fn from(b: Bytes) -> Self {
        Chunk::Bytes(b)
    }
}

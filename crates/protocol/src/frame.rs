//! Size-prefixed frames: `int32 size` then `size` bytes.

use bytes::BytesMut;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

#[derive(Debug, Error)]
pub enum FrameError {
    /// The declared size is negative or above `socket.request.max.bytes`: the connection is
    /// closed without reading the body, which protects memory.
    #[error("frame of {size_bytes} bytes is outside 0..={max_bytes}")]
    BadSize { size_bytes: i64, max_bytes: usize },
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed mid-frame after {read_bytes} of {size_bytes} bytes")]
    Truncated {
        read_bytes: usize,
        size_bytes: usize,
    },
    #[error("i/o error reading a frame: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one frame's body. Returns `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_bytes: usize,
) -> Result<Option<BytesMut>, FrameError> {
    match read_frame_size(reader, max_bytes).await? {
        Some(size) => read_frame_body(reader, size).await.map(Some),
        None => Ok(None),
    }
}

/// Reads a frame's size prefix and checks it against `max_bytes` before anything is allocated.
/// Returns `Ok(None)` on a clean end of stream. The broker reads the size, then waits for a
/// request slot (`queued.max.requests`), then reads the body, so a full queue stops reading.
pub async fn read_frame_size<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_bytes: usize,
) -> Result<Option<usize>, FrameError> {
    let mut size_buf = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = reader.read(&mut size_buf[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(FrameError::Truncated {
                read_bytes: got,
                size_bytes: 4,
            });
        }
        got += n;
    }
    let size = i32::from_be_bytes(size_buf);
    if size < 0 || size as usize > max_bytes {
        return Err(FrameError::BadSize {
            size_bytes: size as i64,
            max_bytes,
        });
    }
    Ok(Some(size as usize))
}

/// Frames up to this size get their whole buffer at once: typical produce requests (a
/// librdkafka request carries at most about `message.max.bytes`) are read without regrowing.
pub const UPFRONT_BYTES: usize = 1024 * 1024 + 64 * 1024;

/// Reads a frame body of `size_bytes`. Beyond [`UPFRONT_BYTES`] the buffer grows only as bytes
/// actually arrive, so a peer that declares a huge frame and sends little holds little memory.
pub async fn read_frame_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    size_bytes: usize,
) -> Result<BytesMut, FrameError> {
    const CHUNK_BYTES: usize = 64 * 1024;
    let mut buf = BytesMut::with_capacity(size_bytes.min(UPFRONT_BYTES));
    while buf.len() < size_bytes {
        if buf.capacity() == buf.len() {
            buf.reserve((size_bytes - buf.len()).min(CHUNK_BYTES.max(buf.len())));
        }
        let want = size_bytes - buf.len();
        let n = (&mut *reader).take(want as u64).read_buf(&mut buf).await?;
        if n == 0 {
            return Err(FrameError::Truncated {
                read_bytes: buf.len(),
                size_bytes,
            });
        }
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_over_the_limit_is_refused_before_reading_its_body() {
        let mut input: &[u8] = &[0x7f, 0xff, 0xff, 0xff, 1, 2, 3];
        let err = read_frame(&mut input, 1024).await.unwrap_err();
        assert!(matches!(
            err,
            FrameError::BadSize {
                size_bytes: 2147483647,
                max_bytes: 1024
            }
        ));
    }

    #[tokio::test]
    async fn a_negative_size_is_refused() {
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xfe];
        assert!(matches!(
            read_frame(&mut input, 1024).await,
            Err(FrameError::BadSize { .. })
        ));
    }

    #[tokio::test]
    async fn a_truncated_body_is_an_error_and_a_clean_eof_is_none() {
        let mut input: &[u8] = &[0, 0, 0, 5, 1, 2];
        assert!(matches!(
            read_frame(&mut input, 1024).await,
            Err(FrameError::Truncated {
                read_bytes: 2,
                size_bytes: 5
            })
        ));
        let mut empty: &[u8] = &[];
        assert!(read_frame(&mut empty, 1024).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_whole_frame_is_returned() {
        let mut input: &[u8] = &[0, 0, 0, 3, 7, 8, 9, 0, 0, 0, 0];
        assert_eq!(
            &read_frame(&mut input, 1024).await.unwrap().unwrap()[..],
            &[7, 8, 9]
        );
        assert_eq!(
            read_frame(&mut input, 1024).await.unwrap().unwrap().len(),
            0
        );
    }
}

//! Length-prefixed frames between controllers: `[len u32 BE][payload]`, with a maximum frame
//! size checked before anything is allocated and a body buffer that grows only as bytes arrive.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Above any append batch or snapshot chunk openraft sends here (chunks are 3 MiB).
pub const FRAME_MAX_SIZE_BYTES: u32 = 64 * 1024 * 1024;

pub async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|len| *len <= FRAME_MAX_SIZE_BYTES)
        .ok_or_else(|| {
            io::Error::other(format!(
                "frame of {} bytes above {FRAME_MAX_SIZE_BYTES} bytes",
                payload.len()
            ))
        })?;
    writer.write_all(&len.to_be_bytes()).await?;
    writer.write_all(payload).await?;
    writer.flush().await
}

/// Reads one frame; `Ok(None)` on a clean end of stream before a frame starts.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len);
    if len > FRAME_MAX_SIZE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes above {FRAME_MAX_SIZE_BYTES} bytes"),
        ));
    }
    let mut payload = Vec::new();
    reader
        .take(u64::from(len))
        .read_to_end(&mut payload)
        .await?;
    if payload.len() != len as usize {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "frame cut short",
        ));
    }
    Ok(Some(payload))
}

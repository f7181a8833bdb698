//! Sending a file range (a Fetch's record batches in a segment file) to a client socket.
//!
//! On Linux this is `sendfile(2)`: the kernel moves the data from the page cache into the
//! socket, so the broker neither reads it into a buffer nor copies it back out. The socket is
//! non-blocking, so a full send buffer shows up as `EAGAIN` (or a short count) and the task
//! waits for writability instead of blocking a runtime thread. As with the `pread` it replaces,
//! data not in the page cache is read from disk inside the call.
//!
//! A file shorter than the range (truncated after the fetch was read) makes `sendfile` return
//! 0; that is an error, which closes the connection: the frame's size prefix already promised
//! the bytes, so there is no way to finish the response correctly.

use runnel_protocol::FileChunk;
use std::io;
use tokio::net::tcp::OwnedWriteHalf;

#[cfg(target_os = "linux")]
pub(crate) async fn send_file(wr: &mut OwnedWriteHalf, f: &FileChunk) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    use tokio::io::Interest;
    let stream: &tokio::net::TcpStream = wr.as_ref();
    let mut offset = libc::off_t::try_from(f.position)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file position too large"))?;
    let end = offset + f.len as libc::off_t;
    while offset < end {
        stream.writable().await?;
        let remaining = (end - offset) as usize;
        let sent = stream.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors stay open for the call (the stream and the file are
            // borrowed), and `offset` is a live `off_t` the kernel advances by what it sent.
            let n = unsafe {
                libc::sendfile(
                    stream.as_raw_fd(),
                    f.file.as_raw_fd(),
                    &mut offset,
                    remaining,
                )
            };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("file ends before {end}: truncated after the fetch read it"),
                ))
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Elsewhere: read the range and write it.
#[cfg(not(target_os = "linux"))]
pub(crate) async fn send_file(wr: &mut OwnedWriteHalf, f: &FileChunk) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let bytes = f.read_to_vec()?;
    wr.write_all(&bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, server) = tokio::join!(client, listener.accept());
        (client.unwrap(), server.unwrap().0)
    }

    fn file_with(bytes: &[u8]) -> Arc<std::fs::File> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        Arc::new(f)
    }

    #[tokio::test]
    async fn a_range_larger_than_the_socket_buffers_arrives_whole_and_in_order() {
        let data: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let chunk = FileChunk {
            file: file_with(&data),
            position: 1000,
            len: data.len() - 2000,
        };
        let (mut client, server) = pair().await;
        let (_rd, mut wr) = server.into_split();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            // Read slowly at first so the sender meets a full socket buffer.
            tokio::time::sleep(Duration::from_millis(100)).await;
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        send_file(&mut wr, &chunk).await.unwrap();
        drop(wr);
        drop(_rd);
        let got = reader.await.unwrap();
        assert_eq!(got, &data[1000..data.len() - 1000]);
    }

    #[tokio::test]
    async fn a_file_shorter_than_the_range_is_an_error_not_a_hang() {
        let chunk = FileChunk {
            file: file_with(&[5u8; 10_000]),
            position: 0,
            len: 20_000,
        };
        let (_client, server) = pair().await;
        let (_rd, mut wr) = server.into_split();
        let result = tokio::time::timeout(Duration::from_secs(10), send_file(&mut wr, &chunk))
            .await
            .expect("send_file returned");
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}

//! Small files replaced whole: write a temp file, fsync it, rename over the old one, fsync the
//! directory. A crash leaves either the old or the new contents. Each file is
//! `[len u32 LE][crc32c u32 LE][payload]`, so a damaged one is detected rather than trusted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

const HEADER_SIZE_BYTES: usize = 8;

/// Writes `payload` to `dir/name` durably (temp, fsync, rename, fsync dir).
/// With `durable == false` the fsyncs are skipped (for hints that may be lost, not corrupted).
pub fn write(dir: &Path, name: &str, payload: &[u8], durable: bool) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::other("atomic file payload too large"))?;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    let mut bytes = Vec::with_capacity(HEADER_SIZE_BYTES + payload.len());
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    file.write_all(&bytes)?;
    if durable {
        file.sync_all()?;
    }
    drop(file);
    fs::rename(&tmp, dir.join(name))?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Reads `dir/name`: `Ok(None)` when absent, an error when damaged or above `max_size_bytes`.
pub fn read(dir: &Path, name: &str, max_size_bytes: u64) -> io::Result<Option<Vec<u8>>> {
    let mut file = match File::open(dir.join(name)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut header = [0u8; HEADER_SIZE_BYTES];
    file.read_exact(&mut header)?;
    let len = u64::from(u32::from_le_bytes(header[..4].try_into().expect("4 bytes")));
    let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    let on_disk = file
        .metadata()?
        .len()
        .saturating_sub(HEADER_SIZE_BYTES as u64);
    if len > max_size_bytes || len != on_disk {
        return Err(corrupt(format!(
            "{name}: declared length {len} bytes, {on_disk} bytes on disk, limit {max_size_bytes} bytes"
        )));
    }
    // The length was checked against the file and the limit; read_to_end grows as bytes arrive.
    let mut payload = Vec::new();
    file.take(len).read_to_end(&mut payload)?;
    if payload.len() as u64 != len || crc32c::crc32c(&payload) != crc {
        return Err(corrupt(format!("{name}: checksum mismatch")));
    }
    Ok(Some(payload))
}

/// Removes a temp file left by a crash during [`write`].
pub fn remove_stale_temp(dir: &Path, name: &str) -> io::Result<()> {
    match fs::remove_file(dir.join(format!("{name}.tmp"))) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes renames, creations and deletions in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub fn corrupt(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

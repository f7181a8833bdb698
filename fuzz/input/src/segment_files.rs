//! The `segment_recovery` target's input: the files of one partition directory.
//!
//! Layout, repeated to the end: `[kind: u8][segment base offset: u32 BE][length: u32 BE][bytes]`.
//! A truncated last entry keeps what is there. Kinds outside the table are skipped.

/// Which file of a partition directory an entry becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Log,
    Index,
    TimeIndex,
    /// `log-start-offset` (the base offset field is ignored).
    LogStartOffset,
    /// `cleaner-offset-checkpoint` (the base offset field is ignored).
    CleanerCheckpoint,
}

impl FileKind {
    fn from_byte(b: u8) -> Option<FileKind> {
        Some(match b % 8 {
            0 => FileKind::Log,
            1 => FileKind::Index,
            2 => FileKind::TimeIndex,
            3 => FileKind::LogStartOffset,
            4 => FileKind::CleanerCheckpoint,
            _ => return None,
        })
    }
    fn to_byte(self) -> u8 {
        match self {
            FileKind::Log => 0,
            FileKind::Index => 1,
            FileKind::TimeIndex => 2,
            FileKind::LogStartOffset => 3,
            FileKind::CleanerCheckpoint => 4,
        }
    }
    /// The file's name in the partition directory.
    pub fn file_name(self, base_offset: u32) -> String {
        match self {
            FileKind::Log => format!("{base_offset:020}.log"),
            FileKind::Index => format!("{base_offset:020}.index"),
            FileKind::TimeIndex => format!("{base_offset:020}.timeindex"),
            FileKind::LogStartOffset => "log-start-offset".to_string(),
            FileKind::CleanerCheckpoint => "cleaner-offset-checkpoint".to_string(),
        }
    }
}

/// One file of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    pub kind: FileKind,
    pub base_offset: u32,
    pub bytes: Vec<u8>,
}

/// Reads the entries of `data`.
pub fn parse(mut data: &[u8]) -> Vec<SegmentFile> {
    let mut files = Vec::new();
    while data.len() >= 9 {
        let kind = FileKind::from_byte(data[0]);
        let base_offset = u32::from_be_bytes([data[1], data[2], data[3], data[4]]);
        let len = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
        data = &data[9..];
        let take = len.min(data.len());
        let (bytes, rest) = data.split_at(take);
        data = rest;
        if let Some(kind) = kind {
            files.push(SegmentFile {
                kind,
                base_offset,
                bytes: bytes.to_vec(),
            });
        }
    }
    files
}

/// Writes entries in the layout [`parse`] reads, for seeds.
pub fn encode(files: &[SegmentFile]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in files {
        out.push(f.kind.to_byte());
        out.extend_from_slice(&f.base_offset.to_be_bytes());
        out.extend_from_slice(&(f.bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(&f.bytes);
    }
    out
}

//! The metadata log's own storage: torn tails, truncation, purge, vote durability.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use openraft::storage::RaftLogStorage;
use openraft::Vote;
use runnel_meta::raft::LogStore;
use runnel_meta::store::SegmentLog;

const BIG_SEGMENT_BYTES: u64 = 1 << 20;
/// Three 100-byte entries per segment.
const SMALL_SEGMENT_BYTES: u64 = 300;

fn payload(index: u64) -> Vec<u8> {
    format!("entry-{index:094}").into_bytes() // 100 bytes
}

fn append_range(log: &mut SegmentLog, range: std::ops::RangeInclusive<u64>) {
    let entries: Vec<(u64, Vec<u8>)> = range.map(|i| (i, payload(i))).collect();
    log.append(&entries).expect("append");
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

fn indexes(log: &SegmentLog) -> Vec<u64> {
    log.range(..).map(|(i, _)| i).collect()
}

#[test]
fn a_half_written_last_entry_is_cut_off_at_open_and_the_log_goes_on_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = SegmentLog::open(dir.path(), BIG_SEGMENT_BYTES, None).unwrap();
    append_range(&mut log, 0..=4);
    drop(log);
    let file = segments(dir.path()).pop().unwrap();
    let len = fs::metadata(&file).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 30)
        .unwrap();

    let (mut log, recovery) = SegmentLog::open(dir.path(), BIG_SEGMENT_BYTES, None).unwrap();
    assert_eq!(
        indexes(&log),
        vec![0, 1, 2, 3],
        "the torn entry 4 is gone, 0..=3 remain"
    );
    assert_eq!(
        recovery.truncated_bytes,
        116 - 30,
        "the torn entry's remaining bytes were cut"
    );
    assert_eq!(fs::metadata(&file).unwrap().len(), 4 * 116);
    append_range(&mut log, 4..=5);
    drop(log);
    let (log, recovery) = SegmentLog::open(dir.path(), BIG_SEGMENT_BYTES, None).unwrap();
    assert_eq!(indexes(&log), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(log.get(4), Some(&payload(4)[..]));
    assert_eq!(recovery.truncated_bytes, 0);
}

#[test]
fn a_bad_checksum_or_an_impossible_length_at_the_tail_is_a_torn_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = SegmentLog::open(dir.path(), BIG_SEGMENT_BYTES, None).unwrap();
    append_range(&mut log, 0..=2);
    drop(log);
    let file = segments(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff; // damage entry 2's payload
    fs::write(&file, &bytes).unwrap();
    let (log, recovery) = SegmentLog::open(dir.path(), BIG_SEGMENT_BYTES, None).unwrap();
    assert_eq!((indexes(&log), recovery.truncated_bytes), (vec![0, 1], 116));
    drop(log);

    // A header declaring ~4 GiB: refused from the header alone (nothing is allocated for it).
    let mut tail = OpenOptions::new().append(true).open(&file).unwrap();
    tail.write_all(&[
        0xf0, 0xff, 0xff, 0xff, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3,
    ])
    .unwrap();
    drop(tail);
    let (log, recovery) = SegmentLog::open(dir.path(), BIG_SEGMENT_BYTES, None).unwrap();
    assert_eq!((indexes(&log), recovery.truncated_bytes), (vec![0, 1], 19));
}

#[test]
fn damage_before_the_last_segment_fails_the_open_instead_of_dropping_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = SegmentLog::open(dir.path(), SMALL_SEGMENT_BYTES, None).unwrap();
    append_range(&mut log, 0..=8);
    drop(log);
    let first = segments(dir.path()).remove(0);
    let mut bytes = fs::read(&first).unwrap();
    bytes[20] ^= 0xff;
    fs::write(&first, &bytes).unwrap();
    let err = SegmentLog::open(dir.path(), SMALL_SEGMENT_BYTES, None).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
}

#[test]
fn truncation_removes_the_suffix_across_segments_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = SegmentLog::open(dir.path(), SMALL_SEGMENT_BYTES, None).unwrap();
    append_range(&mut log, 0..=9);
    assert_eq!(segments(dir.path()).len(), 4, "three entries per segment");
    log.truncate_from(4).unwrap();
    assert_eq!(
        (indexes(&log), log.last_index()),
        ((0..=3).collect(), Some(3))
    );
    assert_eq!(
        segments(dir.path()).len(),
        2,
        "segments wholly above the cut are deleted"
    );
    let replacement = vec![(4, b"new four".to_vec())];
    log.append(&replacement).unwrap();
    drop(log);
    let (log, _) = SegmentLog::open(dir.path(), SMALL_SEGMENT_BYTES, None).unwrap();
    assert_eq!(indexes(&log), (0..=4).collect::<Vec<_>>());
    assert_eq!(log.get(4), Some(&b"new four"[..]));
}

#[test]
fn purge_deletes_whole_segments_and_a_reopen_skips_what_it_covered() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = SegmentLog::open(dir.path(), SMALL_SEGMENT_BYTES, None).unwrap();
    append_range(&mut log, 0..=11); // segments based 0, 3, 6, 9
    log.purge_upto(7).unwrap();
    assert_eq!(indexes(&log), vec![8, 9, 10, 11]);
    assert_eq!(
        segments(dir.path()).len(),
        2,
        "segments 0 and 3 held only purged entries"
    );
    drop(log);
    let (mut log, _) = SegmentLog::open(dir.path(), SMALL_SEGMENT_BYTES, Some(7)).unwrap();
    assert_eq!(indexes(&log), vec![8, 9, 10, 11]);

    // A purge past the end (a follower installing a snapshot): the log continues after it.
    log.purge_upto(20).unwrap();
    assert_eq!(log.last_index(), Some(20));
    append_range(&mut log, 21..=22);
    drop(log);
    let (log, _) = SegmentLog::open(dir.path(), SMALL_SEGMENT_BYTES, Some(20)).unwrap();
    assert_eq!(indexes(&log), vec![21, 22]);
    // Segment 9 is wholly purged but, being the last before the jump, waits for the next purge.
    assert_eq!(segments(dir.path()).len(), 2);
}

#[test]
fn after_a_failed_append_the_log_refuses_further_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = SegmentLog::open(dir.path(), BIG_SEGMENT_BYTES, None).unwrap();
    append_range(&mut log, 0..=1);
    assert!(log.append(&[(5, payload(5))]).is_err(), "a gap is refused");
    let err = log.append(&[(2, payload(2))]).unwrap_err();
    assert!(err.to_string().contains("refusing"), "fails closed: {err}");
    assert!(log.truncate_from(1).is_err() && log.purge_upto(0).is_err());
}

#[tokio::test]
async fn the_vote_is_durable_across_a_reopen_and_a_damaged_vote_fails_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = LogStore::open(dir.path(), BIG_SEGMENT_BYTES).unwrap();
    assert_eq!(store.read_vote().await.unwrap(), None);
    let vote = Vote::new_committed(7, 2);
    store.save_vote(&vote).await.unwrap();
    drop(store);
    assert!(
        !dir.path().join("quorum-vote.tmp").exists(),
        "the temp file was renamed"
    );

    let (mut store, _) = LogStore::open(dir.path(), BIG_SEGMENT_BYTES).unwrap();
    assert_eq!(store.read_vote().await.unwrap(), Some(vote));
    drop(store);

    let path = dir.path().join("quorum-vote");
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let err = LogStore::open(dir.path(), BIG_SEGMENT_BYTES).unwrap_err();
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::InvalidData,
        "a damaged vote is not silently forgotten: {err}"
    );
}

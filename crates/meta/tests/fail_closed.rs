//! A write error fails the metadata log closed. The error comes from RLIMIT_FSIZE (writes past
//! the limit fail with EFBIG), which needs no root; it is process-wide, so this file is its own
//! test binary with a single test.

use runnel_meta::store::SegmentLog;

const LIMIT_BYTES: libc::rlim_t = 2048;

fn set_file_size_limit(bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscalls; SIGXFSZ is ignored so the write returns EFBIG instead.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0, "setrlimit");
    }
}

#[test]
fn a_failed_write_makes_the_log_refuse_all_later_io_and_a_reopen_keeps_what_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = SegmentLog::open(dir.path(), 1 << 20, None).unwrap();
    set_file_size_limit(LIMIT_BYTES);
    let mut acknowledged = Vec::new();
    let error = (0..100u64)
        .find_map(|i| match log.append(&[(i, vec![b'x'; 100])]) {
            Ok(()) => {
                acknowledged.push(i);
                None
            }
            Err(e) => Some(e),
        })
        .expect("a write past the limit fails");
    set_file_size_limit(libc::RLIM_INFINITY);
    assert!(
        !acknowledged.is_empty() && acknowledged.len() as u64 * 116 <= LIMIT_BYTES,
        "{acknowledged:?}: {error}"
    );

    let next = acknowledged.len() as u64;
    let refused = log.append(&[(next, vec![b'y'; 10])]).unwrap_err();
    assert!(
        refused.to_string().contains("refusing"),
        "still refused once writes work again: {refused}"
    );
    assert!(log.truncate_from(0).is_err() && log.purge_upto(0).is_err());
    drop(log);

    let (log, _) = SegmentLog::open(dir.path(), 1 << 20, None).unwrap();
    let recovered: Vec<u64> = log.range(..).map(|(i, _)| i).collect();
    assert_eq!(
        recovered, acknowledged,
        "the partial write is cut off; acknowledged entries remain"
    );
}

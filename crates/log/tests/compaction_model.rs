//! Property test: whatever compaction removes, every key still reads back its newest value,
//! surviving records are byte-identical at their original offsets, and the active segment is
//! untouched.
mod common;

use common::*;
use kafka_protocol::records::Compression;
use proptest::prelude::*;
use runnel_log::{CleanupPolicy, Log, LogConfig};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    /// Records of (key, value or tombstone) in one batch.
    Append(Vec<(u8, Option<u8>)>),
    Compact,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((0u8..6, prop::option::weighted(0.8, any::<u8>())), 1..4).prop_map(Op::Append),
        2 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

type Model = BTreeMap<i64, (Vec<u8>, Option<Vec<u8>>)>;

fn check(log: &Log, model: &Model) -> Result<(), TestCaseError> {
    let got: Vec<(i64, Vec<u8>, Option<Vec<u8>>)> = read_all(log)
        .into_iter()
        .map(|r| {
            (
                r.offset,
                r.key.unwrap().to_vec(),
                r.value.map(|v| v.to_vec()),
            )
        })
        .collect();
    let active_base = *log.segment_base_offsets().last().unwrap();
    for (offset, key, value) in &got {
        prop_assert_eq!(
            model.get(offset),
            Some(&(key.clone(), value.clone())),
            "offset {}",
            offset
        );
    }
    for offset in model.range(active_base..).map(|(o, _)| o) {
        prop_assert!(
            got.iter().any(|(o, _, _)| o == offset),
            "active-segment offset {} lost",
            offset
        );
    }
    let mut newest: BTreeMap<&Vec<u8>, (i64, &Option<Vec<u8>>)> = BTreeMap::new();
    for (offset, (key, value)) in model {
        newest.insert(key, (*offset, value));
    }
    for (key, (offset, value)) in newest {
        let last_got = got.iter().rev().find(|(_, k, _)| k == key);
        match (last_got, value) {
            (Some((o, _, _)), _) => {
                prop_assert_eq!(*o, offset, "key {:?} reads back a stale record", key)
            }
            (None, None) => {} // a tombstone past delete.retention.ms may go entirely
            (None, Some(_)) => prop_assert!(false, "key {:?} lost its newest value", key),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn compaction_keeps_newest_value_per_key_at_original_offsets(
        segment_bytes in 100u64..600,
        delete_retention_ms in 0i64..200,
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes,
            delete_retention_ms,
            min_cleanable_dirty_ratio: 0.0,
            index_interval_bytes: 64,
            cleanup_policy: CleanupPolicy { delete: false, compact: true },
            ..LogConfig::default()
        };
        let mut log = Log::open(dir.path(), config.clone()).unwrap();
        let mut model = Model::new();
        let mut clock_ms = 0;
        for op in ops {
            clock_ms += 20;
            match op {
                Op::Append(records) => {
                    let owned: Vec<(Vec<u8>, Option<Vec<u8>>)> =
                        records.iter().map(|(k, v)| (vec![b'k', *k], v.map(|v| vec![v; 3]))).collect();
                    let recs: Vec<Rec> = owned.iter().map(|(k, v)| rec(Some(k), v.as_deref(), clock_ms)).collect();
                    let info = log.append(&batch_of(&recs, Compression::None), opts(clock_ms)).unwrap();
                    for (i, r) in owned.into_iter().enumerate() {
                        model.insert(info.base_offset + i as i64, r);
                    }
                }
                Op::Compact => {
                    log.compact(clock_ms).unwrap();
                }
                Op::Reopen => {
                    drop(log);
                    log = Log::open(dir.path(), config.clone()).unwrap();
                }
            }
            check(&log, &model)?;
            prop_assert_eq!(log.log_end_offset(), model.keys().next_back().map_or(0, |o| o + 1));
        }
    }
}

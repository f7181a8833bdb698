//! Property test: the log against an in-memory model, through appends, rolls, retention,
//! DeleteRecords, truncation, clean reopens and crashes that tear or pollute the active segment
//! beyond what was acknowledged.
mod common;

use common::*;
use kafka_protocol::records::Compression;
use proptest::prelude::*;
use runnel_log::{Log, LogConfig};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
enum Op {
    /// Batches of (record count, value length), appended in one call.
    Append(Vec<(usize, usize)>),
    DeleteRecords(f64),
    TruncateTo(f64),
    RetainBytes(u64),
    RetainMs(i64),
    RollByTime,
    Reopen,
    /// Write the first `cut` fraction of an unacknowledged batch to the active file, then reopen.
    CrashTornBatch(f64),
    /// Append garbage to the active file, then reopen.
    CrashGarbage(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((1usize..5, 0usize..150), 1..4).prop_map(Op::Append),
        1 => (0.0..=1.0f64).prop_map(Op::DeleteRecords),
        1 => (0.0..=1.0f64).prop_map(Op::TruncateTo),
        1 => (0u64..3000).prop_map(Op::RetainBytes),
        1 => (0i64..100).prop_map(Op::RetainMs),
        1 => Just(Op::RollByTime),
        1 => Just(Op::Reopen),
        1 => (0.0..1.0f64).prop_map(Op::CrashTornBatch),
        1 => prop::collection::vec(any::<u8>(), 1..120).prop_map(Op::CrashGarbage),
    ]
}

/// What the log must contain: acknowledged batches as (base offset, values).
#[derive(Default, Debug)]
struct Model {
    batches: Vec<(i64, Vec<Vec<u8>>)>,
    log_start: i64,
    log_end: i64,
}

impl Model {
    fn records(&self) -> Vec<(i64, Vec<u8>)> {
        let all = self.batches.iter().flat_map(|(base, vals)| {
            vals.iter()
                .enumerate()
                .map(move |(i, v)| (base + i as i64, v.clone()))
        });
        all.filter(|(o, _)| *o >= self.log_start).collect()
    }
}

fn value(offset: i64, len: usize) -> Vec<u8> {
    let mut v = offset.to_be_bytes().to_vec();
    v.extend(std::iter::repeat_n((offset % 251) as u8, len));
    v
}

fn encode(first_offset: i64, count: usize, len: usize, ts: i64) -> (Vec<u8>, Vec<Vec<u8>>) {
    let values: Vec<Vec<u8>> = (0..count)
        .map(|i| value(first_offset + i as i64, len))
        .collect();
    let recs: Vec<Rec> = values
        .iter()
        .map(|v| rec(Some(b"key"), Some(v), ts))
        .collect();
    (batch_of(&recs, Compression::None), values)
}

fn active_file(dir: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().expect("a log file")
}

fn check(log: &Log, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(log.log_start_offset(), model.log_start);
    prop_assert_eq!(log.log_end_offset(), model.log_end);
    let got: Vec<(i64, Vec<u8>)> = read_all(log)
        .into_iter()
        .map(|r| (r.offset, r.value.unwrap().to_vec()))
        .collect();
    prop_assert_eq!(got, model.records());
    Ok(())
}

fn run(segment_bytes: u64, index_interval_bytes: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes,
        index_interval_bytes,
        retention_ms: -1,
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = Log::open(dir.path(), config.clone()).unwrap();
    let mut model = Model::default();
    let mut clock_ms = 0i64;
    for op in ops {
        clock_ms += 10;
        match op {
            Op::Append(batches) => {
                let mut bytes = Vec::new();
                let mut next = model.log_end;
                let mut added = Vec::new();
                for (count, len) in batches {
                    let (b, values) = encode(next, count, len, clock_ms);
                    bytes.extend_from_slice(&b);
                    added.push((next, values));
                    next += count as i64;
                }
                let info = log.append(&bytes, opts(clock_ms)).unwrap();
                prop_assert_eq!(
                    (info.base_offset, info.last_offset),
                    (model.log_end, next - 1)
                );
                model.batches.extend(added);
                model.log_end = next;
            }
            Op::DeleteRecords(frac) => {
                let offset =
                    model.log_start + ((model.log_end - model.log_start) as f64 * frac) as i64;
                prop_assert_eq!(log.delete_records_before(offset).unwrap(), offset);
                model.log_start = offset;
            }
            Op::TruncateTo(frac) => {
                let offset =
                    model.log_start + ((model.log_end - model.log_start) as f64 * frac) as i64;
                log.truncate_to(offset).unwrap();
                if offset < model.log_end {
                    // Whole batches only: one straddling `offset` goes entirely, but the log end
                    // never drops below the log start.
                    let len = |v: &Vec<Vec<u8>>| v.len() as i64;
                    let straddling = model
                        .batches
                        .iter()
                        .find(|(b, v)| *b < offset && b + len(v) > offset)
                        .map(|(b, _)| *b);
                    model.batches.retain(|(b, v)| b + len(v) <= offset);
                    model.log_end = straddling.unwrap_or(offset).max(model.log_start);
                }
            }
            Op::RetainBytes(limit) => {
                let before = log.log_start_offset();
                log.set_config(LogConfig {
                    retention_bytes: limit as i64,
                    ..config.clone()
                });
                log.enforce_retention(clock_ms).unwrap();
                log.set_config(config.clone());
                let after = log.log_start_offset();
                prop_assert!(after >= before && after <= model.log_end);
                model.log_start = after;
            }
            Op::RetainMs(ms) => {
                log.set_config(LogConfig {
                    retention_ms: ms,
                    ..config.clone()
                });
                log.enforce_retention(clock_ms).unwrap();
                log.set_config(config.clone());
                prop_assert!(
                    log.log_start_offset() >= model.log_start
                        && log.log_start_offset() <= model.log_end
                );
                model.log_start = log.log_start_offset();
            }
            Op::RollByTime => {
                log.roll_if_due(clock_ms + 2_000).unwrap();
            }
            Op::Reopen => {
                drop(log);
                log = Log::open(dir.path(), config.clone()).unwrap();
            }
            Op::CrashTornBatch(cut) => {
                drop(log);
                let (b, _) = encode(model.log_end, 3, 40, clock_ms);
                let keep = ((b.len() as f64 * cut) as usize).clamp(1, b.len() - 1);
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(active_file(dir.path()))
                    .unwrap();
                f.write_all(&b[..keep]).unwrap();
                drop(f);
                log = Log::open(dir.path(), config.clone()).unwrap();
            }
            Op::CrashGarbage(garbage) => {
                drop(log);
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(active_file(dir.path()))
                    .unwrap();
                f.write_all(&garbage).unwrap();
                drop(f);
                log = Log::open(dir.path(), config.clone()).unwrap();
            }
        }
        check(&log, &model)?;
    }
    drop(log);
    let log = Log::open(dir.path(), config).unwrap();
    check(&log, &model)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model_through_appends_retention_truncation_and_crashes(
        segment_bytes in 150u64..1500,
        index_interval_bytes in 1usize..400,
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(segment_bytes, index_interval_bytes, ops)?;
    }
}

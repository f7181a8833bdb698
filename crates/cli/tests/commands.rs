//! The operator subcommands against an in-process broker, run as the real binary.

mod common;

use common::{broker, fails, ok, runnel};
use std::process::{Command, Stdio};

#[test]
fn topic_commands_create_list_describe_alter_grow_and_delete() {
    let b = broker();
    ok(
        &b,
        &[
            "topic",
            "create",
            "orders",
            "--partitions",
            "3",
            "--config",
            "retention.ms=60000",
        ],
        "",
    );
    assert_eq!(ok(&b, &["topic", "list"], ""), "orders\n");
    assert_eq!(ok(&b, &["topic", "list", "--json"], ""), "[\"orders\"]\n");
    let d = ok(&b, &["topic", "describe", "orders"], "");
    assert!(
        d.contains("PartitionCount: 3") && d.contains("retention.ms=60000"),
        "{d}"
    );
    assert!(d.contains("PARTITION  LEADER  REPLICAS  ISR"), "{d}");
    ok(
        &b,
        &[
            "topic",
            "alter-config",
            "orders",
            "--set",
            "retention.ms=1234",
            "--set",
            "cleanup.policy=compact",
        ],
        "",
    );
    ok(
        &b,
        &["topic", "add-partitions", "orders", "--partitions", "5"],
        "",
    );
    let j: serde_json::Value =
        serde_json::from_str(&ok(&b, &["topic", "describe", "orders", "--json"], "")).unwrap();
    assert_eq!(j["partitions"].as_array().unwrap().len(), 5);
    assert_eq!(j["configs"]["retention.ms"], "1234");
    assert_eq!(j["configs"]["cleanup.policy"], "compact");
    ok(
        &b,
        &[
            "topic",
            "alter-config",
            "orders",
            "--delete",
            "retention.ms",
        ],
        "",
    );
    let j: serde_json::Value =
        serde_json::from_str(&ok(&b, &["topic", "describe", "orders", "--json"], "")).unwrap();
    assert!(j["configs"].get("retention.ms").is_none());
    ok(&b, &["topic", "delete", "orders"], "");
    assert_eq!(ok(&b, &["topic", "list"], ""), "");
}

#[test]
fn produce_then_consume_round_trips_keys_values_and_headers() {
    let b = broker();
    ok(&b, &["topic", "create", "t", "--partitions", "2"], "");
    ok(
        &b,
        &[
            "produce",
            "t",
            "--key-separator",
            ":",
            "--header",
            "h=1",
            "--header",
            "h=2",
            "--compression",
            "gzip",
        ],
        "a:1\nb:2\nc:x:y\n",
    );
    let out = ok(
        &b,
        &["consume", "t", "--from-beginning", "--count", "3", "--json"],
        "",
    );
    let recs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut kv: Vec<(String, String)> = recs
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().into(),
                r["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    kv.sort();
    assert_eq!(
        kv,
        vec![
            ("a".into(), "1".into()),
            ("b".into(), "2".into()),
            ("c".into(), "x:y".into())
        ]
    );
    assert_eq!(
        recs[0]["headers"],
        serde_json::json!([{"key": "h", "value": "1"}, {"key": "h", "value": "2"}])
    );
    // Same keys, same partitions as the Java client's murmur2.
    for r in &recs {
        let key = r["key"].as_str().unwrap();
        assert_eq!(
            r["partition"],
            runnel_client::partitioner::partition_for_key(key.as_bytes(), 2)
        );
    }
}

#[test]
fn consume_prints_the_fields_asked_for_and_starts_where_told() {
    let b = broker();
    ok(&b, &["topic", "create", "t"], "");
    ok(
        &b,
        &[
            "produce",
            "t",
            "--partition",
            "0",
            "--acks",
            "1",
            "--key-separator",
            "=",
        ],
        "k0=v0\nk1=v1\nk2=v2\n",
    );
    let out = ok(
        &b,
        &[
            "consume",
            "t",
            "--offset",
            "1",
            "--count",
            "2",
            "--print-key",
            "--print-partition",
            "--print-offset",
            "--print-headers",
        ],
        "",
    );
    assert_eq!(
        out,
        "Partition:0\tOffset:1\tNO_HEADERS\tk1\tv1\nPartition:0\tOffset:2\tNO_HEADERS\tk2\tv2\n"
    );
    let out = ok(
        &b,
        &[
            "consume",
            "t",
            "--from-beginning",
            "--count",
            "1",
            "--print-timestamp",
        ],
        "",
    );
    assert!(
        out.starts_with("CreateTime:") && out.ends_with("\tv0\n"),
        "{out}"
    );
    let out = ok(
        &b,
        &["consume", "t", "--timestamp", "0", "--count", "1"],
        "",
    );
    assert_eq!(out, "v0\n");
    // From the end (the default) with nothing new: --timeout-ms ends it with no output.
    assert_eq!(ok(&b, &["consume", "t", "--timeout-ms", "500"], ""), "");
}

#[test]
fn unknown_topics_and_unreachable_brokers_are_clear_errors_with_a_non_zero_exit() {
    let b = broker();
    let e = fails(&b, &["consume", "nope", "--count", "1"]);
    assert!(
        e.contains("UnknownTopicOrPartition") && e.contains("nope"),
        "{e}"
    );
    let e = fails(&b, &["produce", "nope"]);
    assert!(e.contains("UnknownTopicOrPartition"), "{e}");
    let e = fails(&b, &["topic", "describe", "nope"]);
    assert!(e.contains("UnknownTopicOrPartition"), "{e}");
    let e = fails(&b, &["topic", "list", "--bootstrap-server", "127.0.0.1:1"]);
    assert!(e.contains("cannot reach the cluster at 127.0.0.1:1"), "{e}");
    let e = fails(&b, &["topic", "create", "x", "--config", "oops"]);
    assert!(e.contains("expected KEY=VALUE"), "{e}");
}

#[test]
fn cluster_describe_shows_the_broker_controller_and_partition_counts() {
    let b = broker();
    let before: serde_json::Value =
        serde_json::from_str(&ok(&b, &["cluster", "describe", "--json"], "")).unwrap();
    ok(&b, &["topic", "create", "a", "--partitions", "3"], "");
    ok(&b, &["topic", "create", "b", "--partitions", "2"], "");
    let j: serde_json::Value =
        serde_json::from_str(&ok(&b, &["cluster", "describe", "--json"], "")).unwrap();
    let broker = &j["brokers"][0];
    let count = |v: &serde_json::Value, k: &str| v["brokers"][0][k].as_u64().unwrap();
    assert_eq!(count(&j, "partitions") - count(&before, "partitions"), 5);
    assert_eq!(count(&j, "leaders") - count(&before, "leaders"), 5);
    assert_eq!(broker["controller"], true);
    assert_eq!(j["controller"], broker["id"]);
    let t = ok(&b, &["cluster", "describe"], "");
    assert!(
        t.contains("Controller:") && t.contains("PARTITIONS  LEADERS"),
        "{t}"
    );
}

#[test]
fn perf_produce_and_consume_report_throughput_and_latency() {
    let b = broker();
    ok(&b, &["topic", "create", "p", "--partitions", "2"], "");
    let j: serde_json::Value = serde_json::from_str(&ok(
        &b,
        &[
            "perf",
            "produce",
            "--topic",
            "p",
            "--num-records",
            "5000",
            "--record-size",
            "50",
            "--json",
        ],
        "",
    ))
    .unwrap();
    assert_eq!(j["records"], 5000);
    assert!(j["records_per_sec"].as_f64().unwrap() > 0.0);
    for k in ["avg", "p50", "p99", "p999", "max"] {
        assert!(j["latency_ms"][k].as_f64().unwrap() > 0.0, "{k}");
    }
    assert!(j["latency_ms"]["p50"].as_f64() <= j["latency_ms"]["max"].as_f64());
    let text = ok(
        &b,
        &[
            "perf",
            "produce",
            "--topic",
            "p",
            "--num-records",
            "1000",
            "--throughput",
            "5000",
        ],
        "",
    );
    assert!(
        text.contains("1000 records sent") && text.contains("99.9th"),
        "{text}"
    );
    let j: serde_json::Value = serde_json::from_str(&ok(
        &b,
        &[
            "perf",
            "consume",
            "--topic",
            "p",
            "--messages",
            "6000",
            "--json",
        ],
        "",
    ))
    .unwrap();
    assert_eq!(j["records"], 6000);
    assert_eq!(j["bytes"], 5000 * 50 + 1000 * 100);
}

#[test]
fn consume_with_a_group_resumes_where_the_group_left_off_and_group_commands_report_it() {
    let b = broker();
    ok(&b, &["topic", "create", "t", "--partitions", "2"], "");
    let input: String = (0..10).map(|i| format!("k{i}:v{i}\n")).collect();
    ok(&b, &["produce", "t", "--key-separator", ":"], &input);
    let first = ok(
        &b,
        &[
            "consume",
            "t",
            "--group",
            "g",
            "--from-beginning",
            "--count",
            "4",
        ],
        "",
    );
    let second = ok(
        &b,
        &[
            "consume",
            "t",
            "--group",
            "g",
            "--from-beginning",
            "--count",
            "6",
        ],
        "",
    );
    let mut all: Vec<&str> = first.lines().chain(second.lines()).collect();
    all.sort();
    let mut want: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    want.sort();
    assert_eq!(all, want, "each record read once across the two runs");

    let list = ok(&b, &["group", "list"], "");
    assert!(list.contains("g") && list.contains("Empty"), "{list}");
    let j: serde_json::Value =
        serde_json::from_str(&ok(&b, &["group", "describe", "g", "--json"], "")).unwrap();
    assert_eq!(j["state"], "Empty");
    let parts = j["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    for p in parts {
        assert_eq!(p["committed_offset"], p["log_end_offset"]);
        assert_eq!(p["lag"], 0);
    }
    let text = ok(&b, &["group", "describe", "g"], "");
    assert!(
        text.contains("CURRENT-OFFSET  LOG-END-OFFSET  LAG"),
        "{text}"
    );

    // Dry run changes nothing; --execute does.
    let dry = ok(
        &b,
        &[
            "group",
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--to-earliest",
        ],
        "",
    );
    assert!(dry.contains("Dry run"), "{dry}");
    let j: serde_json::Value =
        serde_json::from_str(&ok(&b, &["group", "describe", "g", "--json"], "")).unwrap();
    assert!(j["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["lag"] == 0));
    ok(
        &b,
        &[
            "group",
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--shift-by",
            "-2",
            "--execute",
        ],
        "",
    );
    let j: serde_json::Value =
        serde_json::from_str(&ok(&b, &["group", "describe", "g", "--json"], "")).unwrap();
    assert!(
        j["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["lag"] == 2),
        "{j}"
    );
    let again = ok(&b, &["consume", "t", "--group", "g", "--count", "4"], "");
    assert_eq!(again.lines().count(), 4);
    let j: serde_json::Value = serde_json::from_str(&ok(
        &b,
        &[
            "group",
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--to-offset",
            "1",
            "--execute",
            "--json",
        ],
        "",
    ))
    .unwrap();
    assert!(j["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["new_offset"] == 1));
    ok(
        &b,
        &[
            "group",
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--to-latest",
            "--execute",
        ],
        "",
    );
    ok(
        &b,
        &[
            "group",
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--to-timestamp",
            "0",
            "--execute",
        ],
        "",
    );
    let j: serde_json::Value =
        serde_json::from_str(&ok(&b, &["group", "describe", "g", "--json"], "")).unwrap();
    assert!(
        j["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["committed_offset"] == 0),
        "{j}"
    );

    ok(&b, &["group", "delete", "g"], "");
    assert!(!ok(&b, &["group", "list"], "").contains("\ng "));
    let e = fails(&b, &["group", "describe", "g"]);
    assert!(
        e.contains("does not exist") || e.contains("GroupIdNotFound"),
        "{e}"
    );
}

#[test]
fn reset_offsets_is_refused_while_the_group_has_members() {
    let b = broker();
    ok(&b, &["topic", "create", "t"], "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["consume", "t", "--group", "busy"])
        .env("RUNNEL_BOOTSTRAP", &b.bootstrap)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut refused = String::new();
    while std::time::Instant::now() < deadline {
        let d = runnel(&b, &["group", "describe", "busy", "--json"], "");
        let joined = d.status.success()
            && serde_json::from_slice::<serde_json::Value>(&d.stdout).unwrap()["members"]
                .as_array()
                .is_some_and(|m| !m.is_empty());
        if joined {
            let out = runnel(
                &b,
                &[
                    "group",
                    "reset-offsets",
                    "busy",
                    "--topic",
                    "t",
                    "--to-earliest",
                    "--execute",
                ],
                "",
            );
            assert!(!out.status.success());
            refused = String::from_utf8_lossy(&out.stderr).into_owned();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(refused.contains("is active"), "{refused}");
}

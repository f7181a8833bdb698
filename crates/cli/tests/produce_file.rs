//! `runnel produce TOPIC --file PATH`: one record per line of the file, not of stdin.

mod common;

use common::{broker, fails, ok, runnel};
use serde_json::{json, Value};

#[test]
fn produce_file_sends_one_record_per_line_with_keys_values_and_headers() {
    let b = broker();
    ok(&b, &["topic", "create", "t", "--partitions", "1"], "");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.txt");
    // A separator of two bytes, a second separator kept in the value, a line without one (no
    // key), a CRLF line end, an empty value and a non-ASCII key.
    std::fs::write(
        &path,
        "k1::v1\nk2::a::b\nno key here\r\nk4::\nκλειδί::τιμή\n",
    )
    .unwrap();
    let out = runnel(
        &b,
        &[
            "produce",
            "t",
            "--file",
            path.to_str().unwrap(),
            "--key-separator",
            "::",
            "--header",
            "src=file",
            "--header",
            "src=again",
        ],
        "from-stdin\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Produced 5 records to t."), "{stderr}");

    let out = ok(
        &b,
        &[
            "consume",
            "t",
            "--from-beginning",
            "--timeout-ms",
            "1500",
            "--json",
        ],
        "",
    );
    let recs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(Value, Value, Value)> = recs
        .iter()
        .map(|r| (r["offset"].clone(), r["key"].clone(), r["value"].clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (json!(0), json!("k1"), json!("v1")),
            (json!(1), json!("k2"), json!("a::b")),
            (json!(2), Value::Null, json!("no key here")),
            (json!(3), json!("k4"), json!("")),
            (json!(4), json!("κλειδί"), json!("τιμή")),
        ],
        "stdin must not be read when --file is given"
    );
    for r in &recs {
        assert_eq!(
            r["headers"],
            json!([{"key": "src", "value": "file"}, {"key": "src", "value": "again"}])
        );
    }
}

#[test]
fn produce_file_names_a_file_it_cannot_open() {
    let b = broker();
    ok(&b, &["topic", "create", "t"], "");
    let e = fails(&b, &["produce", "t", "--file", "/nonexistent/records.txt"]);
    assert!(e.contains("opening /nonexistent/records.txt"), "{e}");
}

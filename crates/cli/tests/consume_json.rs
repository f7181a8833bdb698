//! `runnel consume --json --json-bytes base64`: keys, values and header values that are not
//! UTF-8 come out byte-exact.

mod common;

use base64::Engine;
use common::{broker, fails, ok};
use runnel_client::{Producer, ProducerConfig, ProducerRecord};

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

#[test]
fn json_bytes_base64_prints_binary_keys_values_and_headers_exactly() {
    let b = broker();
    ok(&b, &["topic", "create", "bin", "--partitions", "1"], "");
    let key: &[u8] = &[0xff, 0x00, 0xfe];
    let value: &[u8] = &[0x80, 0x81, b'\n', 0x00, 0xc3];
    let header: &[u8] = &[0xde, 0xad, 0xbe, 0xef];
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let p = Producer::connect(
                ProducerConfig::from_pairs(&[("bootstrap.servers", b.bootstrap.as_str())]).unwrap(),
            )
            .await
            .unwrap();
            let rec = ProducerRecord::new("bin")
                .key(key.to_vec())
                .value(value.to_vec())
                .header("h", Some(header.to_vec()))
                .header("h", None::<Vec<u8>>);
            p.send(rec).await.unwrap();
            p.close(std::time::Duration::from_secs(5)).await;
        });
    let out = ok(
        &b,
        &[
            "consume",
            "bin",
            "--from-beginning",
            "--count",
            "1",
            "--json",
            "--json-bytes",
            "base64",
        ],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(b64(v["key"].as_str().unwrap()), key);
    assert_eq!(b64(v["value"].as_str().unwrap()), value);
    let headers = v["headers"].as_array().unwrap();
    assert_eq!(headers.len(), 2, "{headers:?}");
    assert_eq!(headers[0]["key"], "h");
    assert_eq!(b64(headers[0]["value"].as_str().unwrap()), header);
    assert!(
        headers[1]["value"].is_null(),
        "a null header value stays null"
    );

    // The default (utf8) is lossy for such bytes: the replacement character shows it.
    let out = ok(
        &b,
        &[
            "consume",
            "bin",
            "--from-beginning",
            "--count",
            "1",
            "--json",
        ],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["value"].as_str().unwrap().contains('\u{fffd}'));
}

#[test]
fn json_bytes_without_json_is_refused() {
    let b = broker();
    let err = fails(&b, &["consume", "bin", "--json-bytes", "base64"]);
    assert!(err.contains("--json"), "{err}");
}

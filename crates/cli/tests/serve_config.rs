//! `runnel serve` refuses bad configuration at start-up, naming the key and the value, and
//! stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn runnel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_runnel"))
}

#[test]
fn a_bad_value_stops_start_up_with_a_message_naming_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let out = runnel()
        .args(["serve", "--set", "listeners=PLAINTEXT://127.0.0.1:0"])
        .arg("--set")
        .arg(format!("log.dirs={}", dir.path().display()))
        .args(["--set", "num.partitions=lots"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("num.partitions") && stderr.contains("lots"),
        "stderr: {stderr}"
    );
}

#[test]
fn a_bad_value_in_the_config_file_or_environment_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.properties");
    std::fs::write(&file, "log.segment.bytes=huge\n").unwrap();
    let out = runnel()
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("log.segment.bytes") && stderr.contains("huge"),
        "stderr: {stderr}"
    );

    let out = runnel()
        .args(["serve", "--set", "listeners=PLAINTEXT://127.0.0.1:0"])
        .env("RUNNEL_AUTO_CREATE_TOPICS_ENABLE", "perhaps")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("auto.create.topics.enable") && stderr.contains("perhaps"),
        "stderr: {stderr}"
    );
}

#[test]
fn sigterm_shuts_the_broker_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = runnel()
        .args([
            "serve",
            "--set",
            "listeners=PLAINTEXT://127.0.0.1:0",
            "--set",
        ])
        .arg(format!("log.dirs={}", dir.path().display()))
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // stderr lines arrive on a channel, so the test can wait for one with a deadline.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    // The signal handlers are installed before the broker listens (cmd/serve.rs), so once this
    // line is out SIGTERM takes the clean path.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.iter().any(|l: &String| l.contains("broker listening")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("broker did not start ({e}); stderr: {seen:#?}"),
        }
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "broker did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    reader.join().unwrap();
    seen.extend(lines.try_iter());
    let stderr = seen.join("\n");
    assert!(status.success(), "exit status {status}; stderr: {stderr}");
    assert!(stderr.contains("broker stopped"), "stderr: {stderr}");
}

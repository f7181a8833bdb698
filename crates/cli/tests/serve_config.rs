//! `runnel serve` refuses bad configuration at start-up, naming the key and the value, and
//! stops cleanly on SIGTERM.

use std::io::Read;
use std::process::{Command, Stdio};
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
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the broker to come up (it writes meta.properties before listening).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.path().join("meta.properties").exists() {
        assert!(Instant::now() < deadline, "broker did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
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
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "exit status {status}; stderr: {stderr}");
    assert!(stderr.contains("broker stopped"), "stderr: {stderr}");
}

//! An in-process broker and helpers that run the real `runnel` binary against it.
#![allow(dead_code)]

use runnel_broker::{BrokerConfig, BrokerHandle};
use std::io::Write;
use std::process::{Command, Output, Stdio};

pub struct Broker {
    pub bootstrap: String,
    _handle: BrokerHandle,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

pub fn broker() -> Broker {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let handle = rt.block_on(async {
        runnel_broker::start(
            BrokerConfig::with(&[
                ("listeners", "PLAINTEXT://127.0.0.1:0"),
                ("log.dirs", d.as_str()),
            ])
            .unwrap(),
        )
        .await
        .unwrap()
    });
    Broker {
        bootstrap: handle.local_addr.to_string(),
        _handle: handle,
        _dir: dir,
        _rt: rt,
    }
}

pub fn runnel(b: &Broker, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(args)
        .env("RUNNEL_BOOTSTRAP", &b.bootstrap)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn ok(b: &Broker, args: &[&str], stdin: &str) -> String {
    let out = runnel(b, args, stdin);
    assert!(
        out.status.success(),
        "runnel {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn fails(b: &Broker, args: &[&str]) -> String {
    let out = runnel(b, args, "");
    assert!(!out.status.success(), "runnel {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

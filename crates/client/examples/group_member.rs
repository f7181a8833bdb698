//! A Runnel consumer-group member for the interop tests (tests/interop), which put it in one
//! group with librdkafka members: it polls, and prints its assignment as a JSON line
//! `{"assigned": [["topic", partition], ...]}` whenever it changes. It exits when stdin
//! says `close` (leaving the group) or closes.
//!
//! Usage: group_member BOOTSTRAP GROUP STRATEGY TOPIC[,TOPIC...]

use runnel_client::{Consumer, ConsumerConfig};
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> runnel_client::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bootstrap, group, strategy, topics] = &args[..] else {
        eprintln!("usage: group_member BOOTSTRAP GROUP STRATEGY TOPIC[,TOPIC...]");
        std::process::exit(2);
    };
    let config = ConsumerConfig::from_pairs(&[
        ("bootstrap.servers", bootstrap.as_str()),
        ("group.id", group.as_str()),
        ("partition.assignment.strategy", strategy.as_str()),
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "500"),
        ("enable.auto.commit", "false"),
        ("metadata.max.age.ms", "2000"),
    ])?;
    let mut c = Consumer::connect(config).await?;
    let topics: Vec<&str> = topics.split(',').collect();
    c.subscribe(&topics)?;
    let close = Arc::new(AtomicBool::new(false));
    let flag = close.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if line.map_or(true, |l| l.trim() == "close") {
                break;
            }
        }
        flag.store(true, Ordering::SeqCst);
    });
    println!("{{\"started\": true}}");
    let mut last = None;
    while !close.load(Ordering::SeqCst) {
        c.poll(Duration::from_millis(200)).await?;
        let now = c.assignment();
        if last.as_ref() != Some(&now) {
            let tps: Vec<String> = now.iter().map(|(t, p)| format!("[\"{t}\", {p}]")).collect();
            println!("{{\"assigned\": [{}]}}", tps.join(", "));
            std::io::stdout().flush().ok();
            last = Some(now);
        }
    }
    c.close().await;
    println!("{{\"closed\": true}}");
    Ok(())
}

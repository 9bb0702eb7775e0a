//! `vigil-edge run --stdin` behind a writer that stalls without closing the pipe (a hung
//! camera process upstream): the loop must not go blind silently. It raises the fault alert
//! on stdout while the pipe is still open, then ends normally when the writer closes it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn a_stalled_stdin_writer_raises_the_fault_alert() {
    let mut edge = Command::new(env!("CARGO_BIN_EXE_vigil-edge"))
        .args(["run", "--stdin", "64x48"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut writer = edge.stdin.take().unwrap();
    // One blank frame, then nothing: the writer hangs with the pipe open.
    writer.write_all(&[0u8; 64 * 48]).unwrap();
    writer.flush().unwrap();

    let stdout = edge.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // The fault rule raises after 3 s without a decision; a minute is only a bound.
    let mut seen = Vec::new();
    let fault = loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains(r#""alert":"fault","phase":"raised""#) => break line,
            Ok(line) => seen.push(line),
            Err(e) => {
                let _ = edge.kill();
                panic!("no fault alert while stdin stalled ({e}); alerts seen: {seen:?}");
            }
        }
    };
    let v: serde_json::Value = serde_json::from_str(&fault).unwrap();
    assert!(v["t_ms"].as_u64().unwrap() >= 3_000, "{fault}");

    drop(writer);
    let status = edge.wait().unwrap();
    assert!(
        status.success(),
        "the loop ends normally when the writer closes stdin: {status}"
    );
}

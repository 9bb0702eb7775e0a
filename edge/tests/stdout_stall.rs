//! `vigil-edge run` whose stdout reader stops reading without closing the pipe (a suspended
//! `| jq`): the JSON writes block, the loop must not. It keeps taking turns (heartbeats keep
//! coming on stderr), raises the `outputs` fault, and still ends normally when its input ends.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

#[test]
fn a_stdout_reader_that_stops_reading_is_a_fault_and_the_loop_goes_on() {
    // A pipe nobody reads, filled before the loop writes to it: its first JSON line blocks.
    let (unread, stdout) = std::io::pipe().unwrap();
    let mut filler = stdout.try_clone().unwrap();
    thread::spawn(move || while filler.write_all(&[b'\n'; 1024]).is_ok() {});

    let mut edge = Command::new(env!("CARGO_BIN_EXE_vigil-edge"))
        .args(["run", "--stdin", "64x48"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // Plain log lines to match on (tracing-subscriber leaves colour out under NO_COLOR).
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Blank frames at 20 fps: no face, so the face-lost alert (the first JSON line) after 3 s.
    let mut frames = edge.stdin.take().unwrap();
    let (stop, stopped) = mpsc::channel::<()>();
    let feeder = thread::spawn(move || {
        while stopped.recv_timeout(Duration::from_millis(50)).is_err() {
            if frames.write_all(&[0u8; 64 * 48]).is_err() {
                break;
            }
        }
    });
    let stderr = edge.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });

    // The fault, then two heartbeats after it: the loop still turns with stdout blocked.
    let mut seen = Vec::new();
    let mut heartbeats_after_fault = None;
    while heartbeats_after_fault != Some(2) {
        let line = match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(e) => {
                let _ = edge.kill();
                panic!("the loop stopped with stdout blocked ({e}); log: {seen:#?}");
            }
        };
        if line.contains(r#"alert="fault""#) && line.contains(r#"phase="raised""#) {
            heartbeats_after_fault = Some(0);
        } else if line.contains("heartbeat")
            && let Some(n) = heartbeats_after_fault.as_mut()
        {
            *n += 1;
        }
        seen.push(line);
    }
    assert!(
        seen.iter().any(|l| l.contains(r#"fault="outputs""#)),
        "the heartbeats name the cause: {seen:#?}"
    );

    stop.send(()).unwrap();
    feeder.join().unwrap();
    let status = edge.wait().unwrap();
    assert!(status.success(), "the loop ends normally when its input ends: {status}");
    drop(unread);
}

//! A training process that dies in the middle of writing a checkpoint loses nothing but the
//! epoch in progress: `--resume` finds the previous checkpoint and finishes the run.
//!
//! The process is aborted (no destructors, no flush: as `kill -9` or a power cut would) at
//! the worst moment of the second epoch's checkpoint, with the first epoch's checkpoint moved
//! aside and the new one not yet in place (the `VIGIL_FAILPOINT` hook of
//! `host::train::checkpoint::save`). Trains the real network on JAFFE for three short epochs.
//!
//! The finished run is evaluated again by `host eval --cache-only` without the data.
//!
//! A run stopped by SIGTERM (what a session's end or `kill` sends) saves where the epoch stood,
//! exits with 130 rather than 0, so that `train && export` stops there, and resumes from it.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use host::train::checkpoint::{CheckpointState, FAILPOINT_BETWEEN_RENAMES, FAILPOINT_ENV, STATE_FILE};

fn train(data: &Path, cache: &Path, out: &Path, extra: &[&str], failpoint: bool) -> Output {
    let mut cmd = train_command(data, cache, out, 3, extra);
    if failpoint {
        cmd.env(FAILPOINT_ENV, FAILPOINT_BETWEEN_RENAMES);
    }
    cmd.output().expect("host runs")
}

fn train_command(data: &Path, cache: &Path, out: &Path, epochs: usize, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil-host"));
    cmd.arg("train")
        .arg("--data")
        .arg(data)
        .arg("--cache")
        .arg(cache)
        .arg("--out")
        .arg(out)
        .args([
            "--dataset",
            "jaffe",
            "--protocol",
            "subject",
            "--batch-size",
            "32",
            "--seed",
            "7",
        ])
        .args(["--epochs", &epochs.to_string()])
        .args(extra)
        .env("RAYON_NUM_THREADS", "2");
    cmd
}

/// Starts `cmd`, sends it SIGTERM once its stderr shows `started` (the trainer logs it after
/// installing its signal handler), and returns its exit code and whole stderr.
fn terminate_once_started(mut cmd: Command, started: &str) -> (Option<i32>, String) {
    let mut child = cmd.stderr(Stdio::piped()).spawn().expect("host runs");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("exited before {started:?}:\n{seen}");
        }
        seen.push_str(&line);
        if line.contains(started) {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success(), "kill -TERM");
    stderr.read_to_string(&mut seen).unwrap();
    (child.wait().unwrap().code(), seen)
}

fn state(path: &Path) -> CheckpointState {
    serde_json::from_str(&std::fs::read_to_string(path.join(STATE_FILE)).unwrap()).unwrap()
}

#[test]
fn a_run_killed_while_writing_a_checkpoint_resumes_and_finishes() {
    let Some(data) = vigil_tests::data_dir("crash_resume") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (cache, run) = (tmp.path().join("cache"), tmp.path().join("run"));

    let crashed = train(&data, &cache, &run, &[], true);
    let stderr = String::from_utf8_lossy(&crashed.stderr);
    assert!(!crashed.status.success(), "the failpoint must kill it:\n{stderr}");
    assert!(
        crashed.status.code().is_none(),
        "killed by a signal (abort), not an error exit:\n{stderr}"
    );
    let checkpoints = run.join("checkpoints");
    assert!(
        !checkpoints.join("last").exists(),
        "died between the renames: no `last` in place"
    );
    assert_eq!(
        state(&checkpoints.join(".last.old")).epochs_done,
        1,
        "epoch 1 kept aside"
    );

    // A fresh run into the directory is refused: nothing is overwritten by accident.
    let fresh = train(&data, &cache, &run, &[], false);
    assert!(!fresh.status.success());
    assert!(String::from_utf8_lossy(&fresh.stderr).contains("--resume"));

    let resumed = train(&data, &cache, &run, &["--resume"], false);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    assert!(stderr.contains("after 1 epoch(s)"), "resumed from epoch 1:\n{stderr}");
    let last = state(&checkpoints.join("last"));
    assert_eq!(last.epochs_done, 3);
    assert_eq!(
        last.history.len(),
        3,
        "one history row per epoch, none lost or repeated"
    );
    assert!(!checkpoints.join(".last.old").exists() && !checkpoints.join(".last.tmp").exists());

    // The finished run is evaluated again from its cache alone: `--cache-only` needs no data,
    // without it the datasets are listed to check the cache, and a missing data directory is an error.
    let eval = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_vigil-host"))
            .arg("eval")
            .arg("--run")
            .arg(&run)
            .arg("--data")
            .arg(tmp.path().join("no-data"))
            .args(extra)
            .env("RAYON_NUM_THREADS", "2")
            .output()
            .expect("host runs")
    };
    let checked = eval(&[]);
    assert!(!checked.status.success(), "the data directory is missing");
    assert!(String::from_utf8_lossy(&checked.stderr).contains("no-data"));
    let cached = eval(&["--cache-only"]);
    assert!(cached.status.success(), "{}", String::from_utf8_lossy(&cached.stderr));
}

#[cfg(unix)]
#[test]
fn a_run_stopped_by_sigterm_saves_exits_130_and_resumes() {
    let Some(data) = vigil_tests::data_dir("crash_resume") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (cache, run) = (tmp.path().join("cache"), tmp.path().join("run"));
    let epochs = 500;
    let last = run.join("checkpoints").join("last");

    let (code, stderr) = terminate_once_started(train_command(&data, &cache, &run, epochs, &[]), "parameters on");
    assert_eq!(code, Some(130), "stopped, not finished nor failed:\n{stderr}");
    assert!(stderr.contains("interrupted: checkpoint in"), "{stderr}");
    let stopped = state(&last);
    assert!(stopped.epochs_done < epochs, "it stopped early");

    let resumed = train_command(&data, &cache, &run, epochs, &["--resume"]);
    let (code, stderr) = terminate_once_started(resumed, "parameters on");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains(&format!("after {} epoch(s)", stopped.epochs_done)),
        "resumed where it stopped:\n{stderr}"
    );
    assert!(state(&last).epochs_done >= stopped.epochs_done);
}

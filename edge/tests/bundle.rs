//! The offline bundle: `deploy/bundle.sh` packs the edge binary, models, config, unit file and
//! `install.sh`; the install script, run into a temporary root (`DESTDIR`), lays the files out
//! as on the board and refuses a model whose hash does not match its manifest.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn write_model(dir: &Path, bytes: &[u8], manifest_hash: Option<&str>) {
    let hash = hex::encode(Sha256::digest(bytes));
    std::fs::write(dir.join("vigil-int8.onnx"), bytes).unwrap();
    let manifest = format!(
        "{{\n  \"name\": \"vigil-int8\",\n  \"sha256\": \"{}\"\n}}\n",
        manifest_hash.unwrap_or(&hash)
    );
    std::fs::write(dir.join("vigil-int8.manifest.json"), manifest).unwrap();
    std::fs::copy(
        repo().join("models/haarcascade_frontalface_default.xml"),
        dir.join("haarcascade_frontalface_default.xml"),
    )
    .unwrap();
}

/// `<tmp>/models` holding a model and its manifest (see [`write_model`]).
fn models_in(tmp: &Path, bytes: &[u8], manifest_hash: Option<&str>) -> PathBuf {
    let models = tmp.join("models");
    std::fs::create_dir(&models).unwrap();
    write_model(&models, bytes, manifest_hash);
    models
}

/// Executable shell scripts `name` with `body` in `dir` (fakes of system tools, put first on
/// the PATH); returns `dir`.
fn fake_tools(dir: &Path, tools: &[(&str, &str)]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(dir).unwrap();
    for (name, body) in tools {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir.to_path_buf()
}

fn bundle(models: &Path, out: &Path) -> PathBuf {
    bundle_with(env!("CARGO_BIN_EXE_vigil-edge"), models, out)
}

fn bundle_with(binary: &str, models: &Path, out: &Path) -> PathBuf {
    let status = Command::new("sh")
        .arg(repo().join("deploy/bundle.sh"))
        .args(["--target", "test-target", "--binary", binary])
        .arg("--models")
        .arg(models)
        .arg("--out")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "bundle.sh failed");
    let tarball = out.join("vigil-edge-test-target.tar.gz");
    assert!(tarball.is_file());
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
    out.join("vigil-edge-test-target")
}

fn install(bundle: &Path, root: &Path) -> std::process::Output {
    Command::new("sh")
        .arg(bundle.join("install.sh"))
        .env("DESTDIR", root)
        .output()
        .unwrap()
}

#[test]
fn bundle_installs_into_a_staging_root() {
    let tmp = tempfile::tempdir().unwrap();
    let models = models_in(tmp.path(), b"model bytes", None);
    let bundle = bundle(&models, &tmp.path().join("out"));
    let root = tmp.path().join("root");
    let out = install(&bundle, &root);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for path in [
        "usr/local/bin/vigil-edge",
        "var/lib/vigil/models/vigil-int8.onnx",
        "var/lib/vigil/models/vigil-int8.manifest.json",
        "etc/vigil/edge.toml",
        "etc/systemd/system/vigil-edge.service",
    ] {
        assert!(root.join(path).is_file(), "{path} not installed");
    }
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/vigil-edge.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/vigil-edge run --config /etc/vigil/edge.toml"));
    assert!(unit.contains("Restart=always") && unit.contains("WatchdogSec="));
    // The installed binary is the one bundled and runs.
    let version = Command::new(root.join("usr/local/bin/vigil-edge"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("vigil-edge "));
    // The unit's ExecStopPost command exists (no pins configured here: nothing to set).
    let safe = Command::new(root.join("usr/local/bin/vigil-edge"))
        .arg("safe-state")
        .output()
        .unwrap();
    assert!(safe.status.success(), "{}", String::from_utf8_lossy(&safe.stderr));
    // The board config parses with the runtime's own config loader.
    let config = std::fs::read_to_string(root.join("etc/vigil/edge.toml")).unwrap();
    assert!(config.contains("/var/lib/vigil/models/vigil-int8.onnx"));

    // A second install keeps the user's config.
    std::fs::write(root.join("etc/vigil/edge.toml"), "# edited on the board\n").unwrap();
    let out = install(&bundle, &root);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(root.join("etc/vigil/edge.toml")).unwrap(),
        "# edited on the board\n"
    );
    assert!(root.join("etc/vigil/edge.toml.new").is_file());
}

/// The cascade has no manifest: the bundle's SHA256SUMS covers it (and every other file).
#[test]
fn install_refuses_a_bundle_with_an_altered_cascade() {
    let tmp = tempfile::tempdir().unwrap();
    let models = models_in(tmp.path(), b"model bytes", None);
    let bundle = bundle(&models, &tmp.path().join("out"));
    let cascade = bundle.join("models/haarcascade_frontalface_default.xml");
    let mut xml = std::fs::read_to_string(&cascade).unwrap();
    xml = xml.replacen("<maxWeakCount>", "<maxWeakCount>1", 1);
    std::fs::write(&cascade, xml).unwrap();
    let root = tmp.path().join("root");
    let out = install(&bundle, &root);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("do not match SHA256SUMS"), "{stderr}");
    assert!(!root.join("usr/local/bin/vigil-edge").exists(), "nothing installed");
}

/// The files the board config names must be packed: a bundle without the cascade (or the
/// model's manifest) is refused when it is built, not when the service fails on the board.
#[test]
fn bundle_refuses_models_without_what_the_board_config_names() {
    for missing in ["haarcascade_frontalface_default.xml", "vigil-int8.manifest.json"] {
        let tmp = tempfile::tempdir().unwrap();
        let models = models_in(tmp.path(), b"model bytes", None);
        std::fs::remove_file(models.join(missing)).unwrap();
        let out = Command::new("sh")
            .arg(repo().join("deploy/bundle.sh"))
            .args(["--target", "test-target", "--binary", env!("CARGO_BIN_EXE_vigil-edge")])
            .arg("--models")
            .arg(&models)
            .arg("--out")
            .arg(tmp.path().join("out"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "bundled without {missing}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("{missing} is missing")), "{stderr}");
        assert!(!tmp.path().join("out/vigil-edge-test-target.tar.gz").exists());
    }
}

#[test]
fn install_refuses_a_model_that_does_not_match_its_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let models = models_in(tmp.path(), b"model bytes", Some(&"0".repeat(64)));
    let bundle = bundle(&models, &tmp.path().join("out"));
    let root = tmp.path().join("root");
    let out = install(&bundle, &root);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not match its manifest"), "{stderr}");
    assert!(!root.join("usr/local/bin/vigil-edge").exists(), "nothing installed");
}

/// The unit keeps the runtime to what it needs: no network, no privileges, only its devices,
/// and starts on a board without one of the device groups.
#[test]
fn the_unit_is_sandboxed() {
    let path = repo().join("deploy/vigil-edge.service");
    let unit = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for directive in [
        "PrivateTmp=true",
        "PrivateNetwork=true",
        "RestrictAddressFamilies=AF_UNIX",
        "CapabilityBoundingSet=",
        "DevicePolicy=closed",
        "DeviceAllow=char-video4linux rw",
        "DeviceAllow=char-gpiochip rw",
        "ProtectKernelTunables=true",
        "ProtectKernelModules=true",
        "ProtectKernelLogs=true",
        "ProtectControlGroups=true",
        "SystemCallFilter=@system-service",
        "MemoryMax=512M",
        "NoNewPrivileges=true",
        "ExecStopPost=/usr/local/bin/vigil-edge safe-state --config /etc/vigil/edge.toml",
    ] {
        assert!(lines.contains(&directive), "{directive} missing from the unit");
    }
    assert!(
        !unit.contains("SupplementaryGroups"),
        "a group the board lacks would stop the unit from starting"
    );
    // systemd's own assessment where it can run (exposure 0.0 safe .. 10.0 exposed).
    let analysis = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&path)
        .output();
    match analysis {
        Ok(out) if out.status.success() || !out.stdout.is_empty() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let level: f32 = text
                .lines()
                .find_map(|l| l.split("Overall exposure level for vigil-edge.service: ").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
            eprintln!("systemd-analyze security: exposure {level}");
            assert!(level <= 1.5, "exposure {level}:\n{text}");
        }
        _ => eprintln!("systemd-analyze not available: checked the directives only"),
    }
}

/// An upgrade restarts the service (`enable --now` would leave the old binary running) and
/// checks that the process systemd runs is the binary just installed; device groups the
/// board lacks are skipped. systemd and the user tools are fakes on the PATH.
#[test]
fn install_restarts_the_service_and_checks_the_running_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let models = models_in(tmp.path(), b"model bytes", None);
    // The "runtime" is `sleep`, so the test can run the installed copy as the service.
    let bundle = bundle_with("/bin/sleep", &models, &tmp.path().join("out"));
    let log = tmp.path().join("calls.log");
    let fakes = fake_tools(
        &tmp.path().join("fakes"),
        &[
            (
                "systemctl",
                "echo \"systemctl $*\" >> \"$FAKE_LOG\"; [ \"$1\" = show ] && echo \"$FAKE_PID\"; exit 0",
            ),
            ("id", "exit 0"),
            ("useradd", "echo \"useradd $*\" >> \"$FAKE_LOG\""),
            ("usermod", "echo \"usermod $*\" >> \"$FAKE_LOG\""),
            ("getent", "[ \"$2\" = gpio ] && exit 2; exit 0"),
        ],
    );
    let root = tmp.path().join("root");
    let path = format!("{}:{}", fakes.display(), std::env::var("PATH").unwrap());
    let activate = |pid: u32| {
        Command::new("sh")
            .arg(bundle.join("install.sh"))
            .env("DESTDIR", &root)
            .env("VIGIL_ACTIVATE", "1")
            .env("PATH", &path)
            .env("FAKE_LOG", &log)
            .env("FAKE_PID", pid.to_string())
            .output()
            .unwrap()
    };
    assert!(install(&bundle, &root).status.success(), "staged install");

    // The service runs the installed binary: accepted.
    let mut service = Command::new(root.join("usr/local/bin/vigil-edge"))
        .arg("30")
        .spawn()
        .unwrap();
    let out = activate(service.id());
    let _ = service.kill();
    let _ = service.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.contains("systemctl restart vigil-edge.service"), "{calls}");
    assert!(!calls.contains("--now"), "{calls}");
    assert!(calls.contains("usermod -aG video vigil") && calls.contains("usermod -aG dialout vigil"));
    assert!(!calls.contains("gpio"), "a group the board lacks is skipped: {calls}");

    // Some other program runs as the service (the old binary, say): refused.
    let mut other = Command::new("/bin/cat")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = activate(other.id());
    let _ = other.kill();
    let _ = other.wait();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not the binary just installed"), "{stderr}");
}

/// `deploy.sh` unpacks into a private `mktemp -d` directory on the board (removed afterwards),
/// and fails unless the board runs this bundle's binary. ssh, scp and sudo are fakes that
/// run the "board" commands here.
#[test]
fn deploy_uses_a_private_directory_and_checks_what_the_board_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let models = models_in(tmp.path(), b"model bytes", None);
    let log = tmp.path().join("calls.log");
    let fakes = fake_tools(
        &tmp.path().join("fakes"),
        &[
            (
                "ssh",
                r#"host=$1; shift; echo "ssh $host $*" >> "$FAKE_LOG"; cmd="$*"
case "$cmd" in
  *"/proc/"*) echo "$FAKE_RUNNING_SHA  /proc/1/exe"; exit 0 ;;
  "sha256sum /var/lib/vigil/models/"*) sha256sum "$FAKE_MODELS/${cmd#sha256sum /var/lib/vigil/models/}"; exit 0 ;;
esac
exec sh -c "$cmd""#,
            ),
            ("scp", r#"echo "scp $*" >> "$FAKE_LOG"; cp "$1" "${2#*:}""#),
            ("sudo", r#"echo "sudo $*" >> "$FAKE_LOG""#),
        ],
    );
    let sleep_sha = hex::encode(Sha256::digest(std::fs::read("/bin/sleep").unwrap()));
    let deploy = |running_sha: &str| {
        Command::new("sh")
            .arg(repo().join("deploy/deploy.sh"))
            .arg("pi@board")
            .args(["--target", "test-target", "--binary", "/bin/sleep", "--models"])
            .arg(&models)
            .arg("--out")
            .arg(tmp.path().join("out"))
            .env(
                "PATH",
                format!("{}:{}", fakes.display(), std::env::var("PATH").unwrap()),
            )
            .env("FAKE_LOG", &log)
            .env("FAKE_MODELS", &models)
            .env("FAKE_RUNNING_SHA", running_sha)
            .output()
            .unwrap()
    };

    let out = deploy(&sleep_sha);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let calls = std::fs::read_to_string(&log).unwrap();
    let dir = calls
        .lines()
        .find_map(|l| {
            l.strip_prefix("scp ")
                .and_then(|a| a.split_once("pi@board:"))
                .map(|(_, d)| d.trim_end_matches('/'))
        })
        .unwrap_or_else(|| panic!("no scp in {calls}"));
    assert!(calls.contains("ssh pi@board mktemp -d"), "{calls}");
    assert!(
        calls.contains(&format!("ssh pi@board cd '{dir}'")),
        "installs from the mktemp directory: {calls}"
    );
    assert!(!Path::new(dir).exists(), "the board's temporary directory is removed");
    assert!(calls.contains("sudo ./vigil-edge-test-target/install.sh"), "{calls}");

    // The board still runs another binary: the deploy fails.
    let out = deploy(&"0".repeat(64));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs a vigil-edge with sha256"));
}

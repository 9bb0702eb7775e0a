//! The alert loop end to end on real frames: JAFFE images of one poser (KA) replayed as a
//! drive — neutral, then a run of angry frames, then neutral again — through the real Haar
//! detector, the shared preprocessing, smoothing and policy, and the wire/JSON outputs and
//! the buzzer/LED pins (embedded-hal mocks).
//!
//! Twice: with a test-only classifier keyed on each file's true label (read from its JAFFE
//! name as the replay loads it), so the alert times follow exactly from the policy; and with
//! the shipped int8 model, so the whole product is exercised. (KA's images may be in that
//! model's training split: this checks the loop around the model, not its accuracy.)

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use edge::detect::haar::HaarDetector;
use edge::inference::tract::TractClassifier;
use edge::inference::{Classifier, InferenceError};
use edge::monitor::{EndReason, Monitor, MonitorConfig, Summary};
use edge::output::{Indicator, JsonLines, Sink, WireSink};
use edge::source::replay::{ImageLoader, ReplaySource};
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction};
use shared::policy::PolicyConfig;
use shared::preprocess::Preprocessing;
use shared::wire::{AlertKind, AlertPhase, FrameDecoder, Message};
use shared::{Emotion, NUM_CLASSES};

/// The true label of a replayed frame: the JAFFE expression code of the file its symlink
/// points to (`<poser>.<EMO><n>.<id>.tiff`).
fn label(path: &Path) -> Option<Emotion> {
    let name = std::fs::read_link(path).unwrap_or_else(|_| path.to_path_buf());
    let (_, code) = host::data::jaffe::parse_name(name.file_name()?.to_str()?)?;
    Emotion::from_jaffe_code(code).ok()
}

/// TEST ONLY: answers 0.9 for the true label of the frame being processed (set by the
/// loader), the rest spread evenly. It never sees pixels beyond checking their shape.
struct TrueLabelClassifier(Arc<Mutex<Option<Emotion>>>);

impl Classifier for TrueLabelClassifier {
    fn classify(&mut self, input: &[f32]) -> Result<[f32; NUM_CLASSES], InferenceError> {
        edge::inference::check_input(input)?;
        let label = self
            .0
            .lock()
            .unwrap()
            .ok_or_else(|| InferenceError::Backend("no label".into()))?;
        let mut p = [0.1 / (NUM_CLASSES - 1) as f32; NUM_CLASSES];
        p[label.index()] = 0.9;
        Ok(p)
    }
}

#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A temp dir of symlinks in name order: `n` copies of each file in `files`, in turn.
fn drive(dir: &Path, runs: &[(&[PathBuf], usize)]) -> usize {
    let mut i = 0;
    for (files, copies) in runs {
        for _ in 0..*copies {
            for f in *files {
                std::os::unix::fs::symlink(f, dir.join(format!("{i:04}.tiff"))).unwrap();
                i += 1;
            }
        }
    }
    i
}

/// What one replay of the KA drive produced.
struct Replay {
    summary: Summary,
    /// Decoded postcard frames from the serial line.
    messages: Vec<Message>,
    /// JSON lines on "stdout".
    json: String,
}

impl Replay {
    fn alerts(&self) -> Vec<(u64, AlertKind, AlertPhase)> {
        self.messages
            .iter()
            .filter_map(|m| match m {
                Message::Alert(a) => Some((a.timestamp_ms, a.kind, a.phase)),
                _ => None,
            })
            .collect()
    }
}

/// Replays KA at 10 fps: 3 s neutral, 3.6 s angry, 3 s neutral (96 frames), through the real
/// detector and `classifier`, with mock buzzer and LED pins that expect: off at start, on
/// when the anger alert is raised, off again (buzzer after 1.5 s, LED when it clears), or,
/// without `expect_alert`, only off.
fn replay_ka<C: Classifier + 'static>(
    data: &Path,
    expect_alert: bool,
    classifier: impl FnOnce(Arc<Mutex<Option<Emotion>>>) -> C,
) -> Replay {
    let jaffe = data.join("jaffe");
    let pick = |code: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&jaffe)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with(&format!("KA.{code}"))
            })
            .collect();
        v.sort();
        v
    };
    let (neutral, angry) = (pick("NE"), pick("AN"));
    assert_eq!((neutral.len(), angry.len()), (3, 3));
    let tmp = tempfile::tempdir().unwrap();
    let frames = drive(tmp.path(), &[(&neutral, 10), (&angry, 12), (&neutral, 10)]);
    assert_eq!(frames, 96);

    let current = Arc::new(Mutex::new(None));
    let seen = current.clone();
    let loader: ImageLoader = Box::new(move |p: &Path| {
        *seen.lock().unwrap() = label(p);
        Ok(artifacts::image::load(p)?)
    });
    let mut source = ReplaySource::new(tmp.path(), 10.0, false, loader).unwrap();
    let cascade = data.join("haarcascades/haarcascade_frontalface_default.xml");
    let detector = HaarDetector::load(&cascade, edge::config::DetectionConfig::default().params()).unwrap();
    let (low, high) = (|| Transaction::set(State::Low), || Transaction::set(State::High));
    // Off at start; (an alert: on and off again); off again when the loop is dropped.
    let pins = if expect_alert {
        vec![low(), high(), low(), low()]
    } else {
        vec![low(), low()]
    };
    let buzzer = PinMock::new(&pins);
    let led = PinMock::new(&pins);
    let serial = SharedBuf::default();
    let stdout = SharedBuf::default();
    let sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(Indicator::new(buzzer.clone(), led.clone(), 1500).unwrap()),
        Box::new(WireSink::new(serial.clone(), 1)),
        Box::new(JsonLines::new(
            stdout.clone(),
            edge::config::SourceConfig::default().backoff(),
        )),
    ];
    let config = MonitorConfig {
        preprocessing: Preprocessing::default(),
        policy: PolicyConfig::default(),
        heartbeat_ms: 2000,
        detect_every: 3,
        // A slideshow of different photographs, not a video: KA's face box jumps between
        // them (her neutral and angry faces differ by ~15% in size), and the box filter
        // would blend the neutral box into the first angry crops. The filter is tested on
        // its own (edge's detect::kalman) and in the loop (edge's monitor tests).
        smooth_box: false,
        frame_size: Some((256, 256)),
    };
    let mut monitor = Monitor::new(config, detector, classifier(current), sinks).unwrap();
    let end = monitor.run(&mut source, &AtomicBool::new(false));
    assert_eq!(end, EndReason::SourceEnded);
    let summary = monitor.summary();
    eprintln!("{summary}");
    drop(monitor);
    let (mut buzzer, mut led) = (buzzer, led);
    buzzer.done();
    led.done();

    let mut decoder = FrameDecoder::new(1024);
    let messages: Vec<Message> = decoder
        .push(&serial.0.lock().unwrap())
        .into_iter()
        .map(|m| m.expect("valid frame").message)
        .collect();
    let json = String::from_utf8(stdout.0.lock().unwrap().clone()).unwrap();
    Replay {
        summary,
        messages,
        json,
    }
}

/// The checks both classifiers must pass: every frame had KA's face, one anger alert raised
/// and cleared on the serial line and as JSON, heartbeats every 2 s, a plausible face box.
fn check_common(replay: &Replay) {
    let c = replay.summary.counters;
    assert_eq!((c.frames, c.dropped), (96, 0));
    assert_eq!(c.faces, 96, "the detector finds KA's face in every frame");
    let beats = replay
        .messages
        .iter()
        .filter(|m| matches!(m, Message::Heartbeat(_)))
        .count();
    assert_eq!(beats, 4, "at 2, 4, 6 and 8 s of frame time");
    assert_eq!(replay.json.lines().count(), 2);
    assert!(
        replay.json.lines().all(|l| l.contains("\"alert\":\"anger\"")),
        "{}",
        replay.json
    );
    let raised = replay
        .messages
        .iter()
        .find_map(|m| if let Message::Alert(a) = m { a.face } else { None })
        .unwrap();
    assert!(
        raised.w >= 60 && raised.w <= 256 && raised.x >= 0 && raised.y >= 0,
        "{raised:?}"
    );
}

#[test]
fn jaffe_replay_raises_and_clears_anger() {
    let Some(data) = vigil_tests::data_dir("alert_loop::jaffe_replay_raises_and_clears_anger") else {
        return;
    };
    let replay = replay_ka(&data, true, TrueLabelClassifier);
    check_common(&replay);
    // Anger: the EMA of 0.9 from 3000 first reaches 0.6 at 3500, held 2 s -> 5500.
    // Neutral from 6600: below 0.4 at 7000, held 1 s -> 8000.
    assert_eq!(
        replay.alerts(),
        [
            (5500, AlertKind::Anger, AlertPhase::Raised),
            (8000, AlertKind::Anger, AlertPhase::Cleared)
        ]
    );
}

/// Replays KA through the shipped model `file` (in `models/`) with the common checks, and
/// asserts exactly one anger alert: raised at a frame time in `raised`, cleared in `cleared`
/// (milliseconds). `test` names the caller for the data-skip message.
fn check_shipped_model_replay(test: &str, file: &str, raised: RangeInclusive<u64>, cleared: RangeInclusive<u64>) {
    let Some(data) = vigil_tests::data_dir(test) else {
        return;
    };
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(file);
    // Loaded before the replay builds its mock pins: a panic among them would abort the test
    // binary in their drop checks and bury this message.
    let classifier = TractClassifier::load(&model).unwrap_or_else(|e| panic!("{}: {e:?}", model.display()));
    let replay = replay_ka(&data, true, |_| classifier);
    check_common(&replay);
    let alerts = replay.alerts();
    eprintln!("{file} alerts: {alerts:?}");
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    let (raised_at, kind, phase) = alerts[0];
    assert_eq!((kind, phase), (AlertKind::Anger, AlertPhase::Raised));
    assert!(raised.contains(&raised_at), "raised at {raised_at}");
    let (cleared_at, kind, phase) = alerts[1];
    assert_eq!((kind, phase), (AlertKind::Anger, AlertPhase::Cleared));
    assert!(cleared.contains(&cleared_at), "cleared at {cleared_at}");
}

/// With the paper-split model: with its own probabilities (near 1 for KA's angry faces, low
/// for her neutral ones) the smoothed anger crosses 0.6 four to six frames into the angry run
/// (3.4-3.6 s; the shipped model: 3.5 s), so the raise follows the 2 s hold; it falls under
/// 0.4 three to five frames after the run ends (6.9-7.1 s; shipped: 7.0 s), and the clear
/// follows the 1 s hold.
#[test]
fn shipped_paper_model_replay_raises_and_clears_anger() {
    check_shipped_model_replay(
        "alert_loop::shipped_paper_model_replay_raises_and_clears_anger",
        "vigil-paper-int8.onnx",
        5300..=5700,
        7800..=8200,
    );
}

/// With the default in-the-wild model, the check: KA's neutral, angry, neutral
/// replay raises exactly one anger alert, none in the first neutral stretch (0-3 s of frame
/// time), raised while she is angry (3-6.6 s) and cleared once she is neutral again.
#[test]
fn shipped_default_model_replay_raises_and_clears_anger() {
    check_shipped_model_replay(
        "alert_loop::shipped_default_model_replay_raises_and_clears_anger",
        "vigil-int8.onnx",
        3000..=6600,
        6601..=u64::MAX,
    );
}

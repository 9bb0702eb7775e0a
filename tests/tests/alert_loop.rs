//! The alert loop end to end on real frames: JAFFE images of one poser (KA) replayed as a
//! drive — neutral, then a run of angry frames, then neutral again — through the real Haar
//! detector, the shared preprocessing, smoothing and policy, and the wire/JSON outputs.
//!
//! Until a trained model ships, the classifier here is a test-only stand-in keyed on each
//! file's true label (read from its JAFFE name as the replay loads it), so what is tested is
//! detection + loop + policy on real frames, not the model's accuracy.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use edge::detect::haar::HaarDetector;
use edge::inference::{Classifier, InferenceError};
use edge::monitor::{EndReason, Monitor, MonitorConfig};
use edge::output::{JsonLines, Sink, WireSink};
use edge::source::replay::{ImageLoader, ReplaySource};
use shared::policy::PolicyConfig;
use shared::preprocess::Preprocessing;
use shared::wire::{AlertKind, AlertPhase, FrameDecoder, Message};
use shared::{Emotion, NUM_CLASSES};

/// JAFFE's expression code in `<poser>.<EMO><n>.<id>.tiff`.
fn label(path: &Path) -> Option<Emotion> {
    let name = std::fs::read_link(path).unwrap_or_else(|_| path.to_path_buf());
    let code = name.file_name()?.to_str()?.split('.').nth(1)?.get(..2)?.to_string();
    Some(match code.as_str() {
        "AN" => Emotion::Angry,
        "DI" => Emotion::Bored,
        "FE" => Emotion::Fear,
        "HA" => Emotion::Happy,
        "NE" => Emotion::Neutral,
        "SA" => Emotion::Sad,
        "SU" => Emotion::Surprised,
        _ => return None,
    })
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

#[test]
fn jaffe_replay_raises_and_clears_anger() {
    let Some(data) = vigil_tests::data_dir("alert_loop::jaffe_replay_raises_and_clears_anger") else {
        return;
    };
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
    // 10 fps: 3 s neutral, 3.6 s angry, 3 s neutral.
    let frames = drive(tmp.path(), &[(&neutral, 10), (&angry, 12), (&neutral, 10)]);
    assert_eq!(frames, 96);

    let current = Arc::new(Mutex::new(None));
    let seen = current.clone();
    let loader: ImageLoader = Box::new(move |p: &Path| {
        *seen.lock().unwrap() = label(p);
        edge::frame_io::load(p).map_err(|e| e.to_string())
    });
    let mut source = ReplaySource::new(tmp.path(), 10.0, false, loader).unwrap();
    let cascade = data.join("haarcascades/haarcascade_frontalface_default.xml");
    let detector = HaarDetector::load(&cascade, edge::config::DetectionConfig::default().params()).unwrap();
    let serial = SharedBuf::default();
    let stdout = SharedBuf::default();
    let sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(WireSink::new(serial.clone())),
        Box::new(JsonLines::new(stdout.clone())),
    ];
    let config = MonitorConfig {
        preprocessing: Preprocessing::default(),
        policy: PolicyConfig::default(),
        heartbeat_ms: 2000,
        detect_every: 3,
        frame_size: Some((256, 256)),
    };
    let mut monitor = Monitor::new(config, detector, TrueLabelClassifier(current), sinks).unwrap();
    let end = monitor.run(&mut source, &AtomicBool::new(false));
    assert_eq!(end, EndReason::SourceEnded);
    let summary = monitor.summary();
    eprintln!("{summary}");
    let c = summary.counters;
    assert_eq!((c.frames, c.dropped), (96, 0));
    assert_eq!(c.faces, 96, "the detector finds KA's face in every frame");

    // Anger: the EMA of 0.9 from 3000 first reaches 0.6 at 3500, held 2 s -> 5500.
    // Neutral from 6600: below 0.4 at 7000, held 1 s -> 8000.
    let mut decoder = FrameDecoder::new(1024);
    let messages: Vec<Message> = decoder
        .push(&serial.0.lock().unwrap())
        .into_iter()
        .map(|m| m.expect("valid frame"))
        .collect();
    let alerts: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Alert(a) => Some((a.timestamp_ms, a.kind, a.phase)),
            _ => None,
        })
        .collect();
    assert_eq!(
        alerts,
        [
            (5500, AlertKind::Anger, AlertPhase::Raised),
            (8000, AlertKind::Anger, AlertPhase::Cleared)
        ]
    );
    let beats = messages.iter().filter(|m| matches!(m, Message::Heartbeat(_))).count();
    assert_eq!(beats, 4, "at 2, 4, 6 and 8 s of frame time");
    let text = String::from_utf8(stdout.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.lines().all(|l| l.contains("\"alert\":\"anger\"")), "{text}");
    // The alert carries the face the detector found: a plausible face box in the frame.
    let raised = messages
        .iter()
        .find_map(|m| if let Message::Alert(a) = m { a.face } else { None })
        .unwrap();
    assert!(
        raised.w >= 60 && raised.w <= 256 && raised.x >= 0 && raised.y >= 0,
        "{raised:?}"
    );
}

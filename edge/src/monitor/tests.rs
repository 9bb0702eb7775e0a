//! The loop end to end on scripted frames with mock hardware: mock GPIO pins
//! (embedded-hal-mock) that fail the test on any unexpected write, an in-memory serial line
//! decoded with the real [`FrameDecoder`], a trivial detector (the bright square in a
//! synthetic frame is "the face") and a classifier that plays back a script.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction};
use shared::wire::{AlertKind, FrameDecoder, Message};
use shared::{Emotion, FaceBox, GrayImage, NUM_CLASSES};

use super::*;
use crate::inference::InferenceError;
use crate::output::{Indicator, JsonLines, WireSink};

pub(super) const W: u32 = 320;
pub(super) const H: u32 = 240;
pub(super) const SQUARE: FaceBox = FaceBox::new(100, 60, 100, 100);

/// Finds the bounding box of the saturated pixels: the synthetic frames' "face".
pub(super) struct BrightSquare;

impl FaceDetector for BrightSquare {
    fn detect(&mut self, frame: &GrayImage) -> Vec<FaceBox> {
        let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
        for y in 0..frame.height() {
            for (x, &p) in frame.row(y).iter().enumerate() {
                if p == 255 {
                    let x = x as u32;
                    (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
                }
            }
        }
        if x0 == u32::MAX {
            vec![]
        } else {
            vec![FaceBox::new(x0 as i32, y0 as i32, x1 - x0, y1 - y0)]
        }
    }
}

/// Plays back classifier results in order; checks each input is a real 48x48 face crop.
#[derive(Clone, Default)]
pub(super) struct ScriptedClassifier(Arc<Mutex<VecDeque<Answer>>>);

pub(super) type Answer = Result<[f32; NUM_CLASSES], InferenceError>;

impl ScriptedClassifier {
    pub(super) fn push(&self, n: usize, answer: impl Fn() -> Answer) {
        let mut q = self.0.lock().unwrap();
        (0..n).for_each(|_| q.push_back(answer()));
    }

    pub(super) fn remaining(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl Classifier for ScriptedClassifier {
    fn classify(&mut self, input: &[f32]) -> Result<[f32; NUM_CLASSES], InferenceError> {
        crate::inference::check_input(input)?;
        assert!(input.iter().all(|v| (0.0..=1.0).contains(v)), "normalised to 0..1");
        self.0
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Err(InferenceError::Backend("script exhausted".into())))
    }
}

pub(super) fn one_hot(e: Emotion) -> [f32; NUM_CLASSES] {
    let mut p = [0.0; NUM_CLASSES];
    p[e.index()] = 1.0;
    p
}

/// An in-memory serial line.
#[derive(Clone, Default)]
pub(super) struct SharedBuf(pub(super) Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(super) fn frame(t: u64, face: bool) -> Frame {
    let mut pixels = vec![30u8; (W * H) as usize];
    if face {
        for y in SQUARE.y as u32..SQUARE.y as u32 + SQUARE.h {
            for x in SQUARE.x as u32..SQUARE.x as u32 + SQUARE.w {
                // A textured square so the crop is not flat; its border is saturated.
                let edge = x == SQUARE.x as u32 || y == SQUARE.y as u32;
                pixels[(y * W + x) as usize] = if edge { 255 } else { 100 + ((x * 7 + y * 3) % 100) as u8 };
            }
        }
        let (x1, y1) = (SQUARE.x as u32 + SQUARE.w - 1, SQUARE.y as u32 + SQUARE.h - 1);
        pixels[(y1 * W + x1) as usize] = 255;
    }
    Frame {
        image: GrayImage::from_raw(W, H, pixels).unwrap(),
        timestamp_ms: t,
    }
}

pub(super) fn config() -> MonitorConfig {
    MonitorConfig {
        preprocessing: Preprocessing::default(),
        policy: PolicyConfig::default(),
        heartbeat_ms: 1000,
        detect_every: 1,
        smooth_box: true,
        frame_size: Some((W, H)),
    }
}

/// A source playing back a script of frames and errors.
struct ScriptedSource(VecDeque<Result<Option<Frame>, SourceError>>);

impl FrameSource for ScriptedSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        self.0.pop_front().unwrap_or(Ok(None))
    }
    fn describe(&self) -> String {
        "script".into()
    }
}

#[test]
fn scripted_drive_raises_and_clears_exactly_the_expected_alerts() {
    // 10 fps: 20 neutral face frames, 40 angry, 30 neutral, 40 without a face, 10 neutral.
    let classifier = ScriptedClassifier::default();
    classifier.push(20, || Ok(one_hot(Emotion::Neutral)));
    classifier.push(40, || Ok(one_hot(Emotion::Angry)));
    classifier.push(30 + 10, || Ok(one_hot(Emotion::Neutral)));
    let mut frames: Vec<Frame> = Vec::new();
    for i in 0..140u64 {
        frames.push(frame(i * 100, !(90..130).contains(&i)));
    }

    let low = || Transaction::set(State::Low);
    let high = || Transaction::set(State::High);
    // Buzzer: off at start; 1500 ms per raise (anger 4400-5900, face lost 11900-13400);
    // driven low again when the indicator is dropped.
    let buzzer = PinMock::new(&[low(), high(), low(), high(), low(), low()]);
    // LED: off at start; on while anger (4400-7400) and face lost (11900-13500) are active.
    let led = PinMock::new(&[low(), high(), low(), high(), low(), low()]);
    let serial = SharedBuf::default();
    let stdout = SharedBuf::default();
    let sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(Indicator::new(buzzer.clone(), led.clone(), 1500).unwrap()),
        Box::new(WireSink::new(serial.clone(), 1)),
        Box::new(JsonLines::new(
            stdout.clone(),
            crate::config::SourceConfig::default().backoff(),
        )),
    ];
    let mut monitor = Monitor::new(config(), BrightSquare, classifier.clone(), sinks).unwrap();
    let mut events = Vec::new();
    for f in &frames {
        match monitor.process(f) {
            Outcome::Decided { face, events: e, .. } => {
                assert_eq!(face.is_some(), !(9000..13_000).contains(&f.timestamp_ms));
                if let Some(face) = face {
                    assert_eq!(face, SQUARE);
                }
                events.extend(e);
            }
            Outcome::Dropped { reason, .. } => panic!("frame {} dropped: {reason}", f.timestamp_ms),
        }
    }

    use AlertKind::*;
    use AlertPhase::*;
    let got: Vec<_> = events.iter().map(|e| (e.timestamp_ms, e.kind, e.phase)).collect();
    assert_eq!(
        got,
        [
            (4400, Anger, Raised),
            (7400, Anger, Cleared),
            (11_900, FaceLost, Raised),
            (13_500, FaceLost, Cleared)
        ]
    );
    assert_eq!(events[0].face, Some(SQUARE));
    assert_eq!(events[2].face, None);
    assert_eq!(classifier.remaining(), 0, "one classification per face frame");
    let summary = monitor.summary();
    drop(monitor);
    let mut buzzer = buzzer;
    let mut led = led;
    buzzer.done();
    led.done();

    // The serial line carries exactly these alerts, and a heartbeat each second.
    let mut decoder = FrameDecoder::new(1024);
    let messages: Vec<Message> = decoder
        .push(&serial.0.lock().unwrap())
        .into_iter()
        .map(|m| m.expect("valid frame").message)
        .collect();
    let alerts: Vec<_> = messages
        .iter()
        .filter_map(|m| {
            if let Message::Alert(a) = m {
                Some(a.clone())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(alerts, events);
    let beats: Vec<_> = messages
        .iter()
        .filter_map(|m| {
            if let Message::Heartbeat(h) = m {
                Some(h.clone())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(beats.len(), 13);
    for (i, h) in beats.iter().enumerate() {
        let t = (i as u64 + 1) * 1000;
        assert_eq!(h.timestamp_ms, t);
        assert_eq!(h.wire_version, WIRE_VERSION);
        assert_eq!(h.fps_milli, 10_000, "10 frames per second of frame time");
        assert_eq!(h.frames, t / 100 + 1);
        assert_eq!(h.dropped_frames, 0);
        let face_frames = (t / 100 + 1).min(90) + (t / 100 + 1).saturating_sub(130);
        assert_eq!(h.faces, face_frames);
        assert!(h.inference_us_p50 <= h.inference_us_p99);
    }
    assert_eq!(beats[4].active_alerts, Anger.bit(), "at 5000 anger is active");
    assert_eq!(beats[11].active_alerts, FaceLost.bit(), "at 12000 the face is lost");
    assert_eq!(beats[12].active_alerts, FaceLost.bit());

    // One JSON line per alert on stdout.
    let text = String::from_utf8(stdout.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let json: Vec<_> = lines
        .iter()
        .map(|v| {
            (
                v["t_ms"].as_u64().unwrap(),
                v["alert"].as_str().unwrap(),
                v["phase"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        json,
        [
            (4400, "anger", "raised"),
            (7400, "anger", "cleared"),
            (11_900, "face_lost", "raised"),
            (13_500, "face_lost", "cleared")
        ]
    );

    let s = summary;
    assert_eq!((s.counters.frames, s.counters.faces, s.counters.dropped), (140, 100, 0));
    assert_eq!(
        (s.counters.raised, s.counters.cleared, s.counters.detections),
        (2, 2, 140)
    );
    assert!(s.latency_us[0] <= s.latency_us[1] && s.latency_us[2] <= s.latency_us[3]);
}

#[test]
fn bad_input_is_dropped_counted_and_the_loop_goes_on() {
    let classifier = ScriptedClassifier::default();
    classifier.push(1, || Ok(one_hot(Emotion::Happy)));
    classifier.push(1, || Err(InferenceError::Backend("tensor shape mismatch".into())));
    classifier.push(1, || Ok([f32::NAN; NUM_CLASSES]));
    classifier.push(1, || Ok([3.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0])); // logits, not probabilities
    classifier.push(1, || Ok(one_hot(Emotion::Happy)));
    let wrong_size = Frame {
        image: GrayImage::filled(W / 2, H / 2, 30),
        timestamp_ms: 150,
    };
    let script = VecDeque::from([
        Ok(Some(frame(0, true))),
        Ok(Some(wrong_size)),
        Err(SourceError::BadFrame {
            index: 2,
            reason: "JPEG: premature end of data".into(),
        }),
        Err(SourceError::Unavailable("/dev/video0: ENODEV".into())),
        Ok(Some(frame(300, true))), // classifier error
        Ok(Some(frame(400, true))), // NaN
        Ok(Some(frame(500, true))), // logits
        Ok(Some(frame(600, false))),
        Ok(Some(frame(700, true))),
    ]);
    let serial = SharedBuf::default();
    let sinks: Vec<Box<dyn Sink>> = vec![Box::new(WireSink::new(serial.clone(), 1))];
    let mut monitor = Monitor::new(config(), BrightSquare, classifier.clone(), sinks).unwrap();
    let end = monitor.run(&mut ScriptedSource(script), &AtomicBool::new(false));
    assert_eq!(end, EndReason::SourceEnded);
    let c = monitor.counters();
    assert_eq!(c.frames, 3, "first frame, the face-less frame and the last one");
    assert_eq!(c.faces, 2);
    assert_eq!(c.dropped, 5, "wrong size, unreadable, classifier error, NaN, logits");
    assert_eq!(c.source_errors, 1);
    assert_eq!(classifier.remaining(), 0);
    // Only real probabilities reached the policy.
    let smoothed = monitor.policy().smoothed().unwrap();
    assert!(smoothed.0.iter().all(|v| v.is_finite()));
    assert_eq!(smoothed.top(), Emotion::Happy);
    assert!(serial.0.lock().unwrap().is_empty(), "no alert, no heartbeat yet");
}

#[test]
fn fatal_source_errors_end_the_run_with_the_reason_and_stop_is_honoured() {
    let mut monitor = Monitor::new(config(), BrightSquare, ScriptedClassifier::default(), vec![]).unwrap();
    let script = VecDeque::from([Ok(Some(frame(0, false))), Err(SourceError::Fatal("disk gone".into()))]);
    let end = monitor.run(&mut ScriptedSource(script), &AtomicBool::new(false));
    assert_eq!(end, EndReason::SourceFailed("disk gone".into()));
    assert_eq!(monitor.counters().frames, 1);
    let script = VecDeque::from([Ok(Some(frame(0, false)))]);
    assert_eq!(
        monitor.run(&mut ScriptedSource(script), &AtomicBool::new(true)),
        EndReason::Stopped
    );
}

#[test]
fn failing_outputs_are_counted_and_do_not_stop_the_loop() {
    struct Unplugged;
    impl Write for Unplugged {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let classifier = ScriptedClassifier::default();
    classifier.push(30, || Ok(one_hot(Emotion::Fear)));
    let err = MockError::Io(std::io::ErrorKind::NotConnected);
    let buzzer = PinMock::new(&[
        Transaction::set(State::Low),
        Transaction::set(State::High).with_error(err.clone()),
        Transaction::set(State::Low),
        Transaction::set(State::Low),
    ]);
    let led = PinMock::new(&[
        Transaction::set(State::Low),
        Transaction::set(State::High),
        Transaction::set(State::Low),
    ]);
    let stdout = SharedBuf::default();
    let sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(WireSink::new(Unplugged, 1)),
        Box::new(Indicator::new(buzzer.clone(), led.clone(), 500).unwrap()),
        Box::new(JsonLines::new(
            stdout.clone(),
            crate::config::SourceConfig::default().backoff(),
        )),
    ];
    let mut config = config();
    config.heartbeat_ms = 0;
    let mut monitor = Monitor::new(config, BrightSquare, classifier, sinks).unwrap();
    for i in 0..30 {
        monitor.process(&frame(i * 100, true));
    }
    // Fear raised at 2000 (sustained from the first frame): the serial write and the
    // buzzer fail, the LED and stdout still get it, and the buzzer is switched off on time.
    let c = monitor.counters();
    assert_eq!((c.frames, c.raised, c.output_errors), (30, 1, 2));
    assert!(
        String::from_utf8(stdout.0.lock().unwrap().clone())
            .unwrap()
            .contains("\"fear\"")
    );
    // Dropping the loop drives both pins low.
    drop(monitor);
    let (mut buzzer, mut led) = (buzzer, led);
    buzzer.done();
    led.done();
}

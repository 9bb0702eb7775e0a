//! Fault-injection soak: a few thousand turns of the loop through everything a car can
//! throw at it (unreadable frames, a camera that disconnects or stalls, wrong frame sizes, a
//! model answering NaN, a serial line that fails for a while, the driver leaving the frame)
//! between stretches of real emotions. The test pins the exact sequence of fault, recovery
//! and emotion alerts, checks after every turn that the buzzer is off whenever no alert is
//! active, that the serial receiver sees exactly the frames lost while the line was down,
//! and that the loop's memory does not grow.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use embedded_hal::digital::{ErrorType, OutputPin};
use shared::wire::{AlertKind, Continuity, FaultCause, FrameDecoder, Message, SequenceCheck};
use shared::{Emotion, GrayImage, NUM_CLASSES};

use super::tests::{BrightSquare, ScriptedClassifier, W, config, frame, one_hot};
use super::*;
use crate::output::{Indicator, WireSink};

/// The test's clock: set by the source to each scripted turn's time.
#[derive(Clone, Default)]
struct MockClock(Arc<AtomicU64>);

impl Clock for MockClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// What the camera delivers at one turn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// A face with this expression.
    Face(Emotion),
    /// A frame without a face.
    NoFace,
    /// A face the model answers with NaN for.
    NanScores,
    /// A frame of the wrong size.
    WrongSize,
    /// Bytes that do not decode.
    Garbage,
    /// No frame: the device is gone or timed out.
    Unavailable,
}

/// (from ms, to ms, ms per turn, what happens).
const SCRIPT: &[(u64, u64, u64, Step)] = &[
    (0, 10_000, 50, Step::Face(Emotion::Neutral)),
    (10_000, 20_000, 50, Step::Face(Emotion::Angry)),
    (20_000, 30_000, 50, Step::Face(Emotion::Neutral)),
    (30_000, 40_000, 50, Step::Garbage),
    (40_000, 50_000, 50, Step::Face(Emotion::Neutral)),
    // Unplugged: each reopen attempt fails after the back-off.
    (50_000, 60_000, 500, Step::Unavailable),
    (60_000, 70_000, 50, Step::Face(Emotion::Neutral)),
    (70_000, 80_000, 50, Step::WrongSize),
    (80_000, 90_000, 50, Step::Face(Emotion::Neutral)),
    (90_000, 100_000, 50, Step::NanScores),
    // The serial line fails from 110 s to 125 s (see SERIAL_DOWN).
    (100_000, 140_000, 50, Step::Face(Emotion::Neutral)),
    (140_000, 150_000, 50, Step::NoFace),
    (150_000, 160_000, 50, Step::Face(Emotion::Neutral)),
    // Stalled: each read times out after 2 s (longer than the camera's own 500 ms).
    (160_000, 170_000, 2_000, Step::Unavailable),
    (170_000, 180_000, 50, Step::Face(Emotion::Fear)),
    (180_000, 190_000, 50, Step::Face(Emotion::Neutral)),
];

/// Loop times during which every serial write fails.
const SERIAL_DOWN: std::ops::Range<u64> = 110_000..125_000;

/// Plays [`SCRIPT`], setting the clock to each turn's time.
struct SoakSource {
    steps: VecDeque<(u64, Step)>,
    clock: MockClock,
}

impl FrameSource for SoakSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let Some((t, step)) = self.steps.pop_front() else {
            return Ok(None);
        };
        self.clock.0.store(t, Ordering::SeqCst);
        match step {
            Step::Face(_) | Step::NanScores => Ok(Some(frame(t, true))),
            Step::NoFace => Ok(Some(frame(t, false))),
            Step::WrongSize => Ok(Some(Frame {
                image: GrayImage::filled(W / 2, 7, 0),
                timestamp_ms: t,
            })),
            Step::Garbage => Err(SourceError::BadFrame {
                index: t,
                reason: "JPEG: invalid marker".into(),
            }),
            Step::Unavailable => Err(SourceError::Unavailable("/dev/video0: ENODEV".into())),
        }
    }

    fn describe(&self) -> String {
        "soak script".into()
    }
}

/// A serial line that fails during [`SERIAL_DOWN`] and decodes what it receives at once
/// (so its own memory stays bounded too).
struct FlakySerial {
    clock: MockClock,
    received: Arc<Mutex<Received>>,
}

#[derive(Default)]
struct Received {
    decoder: Option<FrameDecoder>,
    check: SequenceCheck,
    alerts: Vec<(u64, AlertKind, AlertPhase)>,
    /// Fault causes as heartbeats report them, one entry per fault.
    faults_in_heartbeats: Vec<FaultCause>,
    last_fault: Option<FaultCause>,
    packets: u64,
    missing: u64,
    failed_writes: u64,
}

impl Write for FlakySerial {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut r = self.received.lock().unwrap();
        if SERIAL_DOWN.contains(&self.clock.now_ms()) {
            r.failed_writes += 1;
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let packets = r.decoder.get_or_insert_with(|| FrameDecoder::new(1024)).push(buf);
        for packet in packets {
            let packet = packet.expect("a frame that was written whole decodes");
            r.packets += 1;
            match r.check.check(&packet) {
                Continuity::Gap { missing } => r.missing += missing as u64,
                Continuity::First | Continuity::InOrder => {}
                other => panic!("unexpected {other:?}"),
            }
            match packet.message {
                Message::Alert(a) => r.alerts.push((a.timestamp_ms, a.kind, a.phase)),
                Message::Heartbeat(h) => {
                    if let Some(cause) = h.fault
                        && r.last_fault != h.fault
                    {
                        r.faults_in_heartbeats.push(cause);
                    }
                    r.last_fault = h.fault;
                }
                Message::Manifest(_) => {}
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A pin that remembers its level and counts its rising edges.
#[derive(Clone, Default)]
struct RecordingPin(Arc<Mutex<(bool, u32)>>);

impl RecordingPin {
    fn is_high(&self) -> bool {
        self.0.lock().unwrap().0
    }
    fn rising_edges(&self) -> u32 {
        self.0.lock().unwrap().1
    }
}

impl ErrorType for RecordingPin {
    type Error = Infallible;
}

impl OutputPin for RecordingPin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.0.lock().unwrap().0 = false;
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Infallible> {
        let mut s = self.0.lock().unwrap();
        s.1 += !s.0 as u32;
        s.0 = true;
        Ok(())
    }
}

/// Checks after every turn that the buzzer only sounds while an alert is active, and
/// samples the thread's memory.
struct Invariants {
    buzzer: RecordingPin,
    turns: u64,
    violations: Vec<u64>,
    memory: Arc<Mutex<Vec<i64>>>,
}

impl Sink for Invariants {
    fn alert(&mut self, _: &AlertEvent, _: u8) -> Result<(), crate::output::OutputError> {
        Ok(())
    }

    fn tick(&mut self, tick: &Tick) -> Result<(), crate::output::OutputError> {
        if self.buzzer.is_high() && tick.active_mask == 0 {
            self.violations.push(tick.t_ms);
        }
        assert!(
            self.violations.is_empty(),
            "buzzer on without an alert at {:?}",
            self.violations
        );
        self.turns += 1;
        if self.turns.is_multiple_of(500) {
            self.memory.lock().unwrap().push(crate::alloc_count::live_bytes());
        }
        Ok(())
    }
}

#[test]
fn soak_through_faults_raises_and_clears_exactly_the_expected_alerts() {
    let clock = MockClock::default();
    let classifier = ScriptedClassifier::default();
    let mut steps = VecDeque::new();
    for &(from, to, every, step) in SCRIPT {
        for t in (from..to).step_by(every as usize) {
            steps.push_back((t, step));
            match step {
                Step::Face(e) => classifier.push(1, || Ok(one_hot(e))),
                Step::NanScores => classifier.push(1, || Ok([f32::NAN; NUM_CLASSES])),
                _ => {}
            }
        }
    }
    let turns = steps.len() as u64;
    assert!(turns > 3000, "a few thousand turns: {turns}");

    let buzzer = RecordingPin::default();
    let led = RecordingPin::default();
    let received = Arc::new(Mutex::new(Received::default()));
    let memory = Arc::new(Mutex::new(Vec::new()));
    let serial = FlakySerial {
        clock: clock.clone(),
        received: received.clone(),
    };
    let sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(Indicator::new(buzzer.clone(), led.clone(), 1500).unwrap()),
        Box::new(WireSink::new(serial, 0x50A4)),
        Box::new(Invariants {
            buzzer: buzzer.clone(),
            turns: 0,
            violations: Vec::new(),
            memory: memory.clone(),
        }),
    ];
    let mut monitor = Monitor::new(config(), BrightSquare, classifier.clone(), sinks)
        .unwrap()
        .with_clock(Box::new(clock.clone()));
    let mut source = SoakSource {
        steps,
        clock: clock.clone(),
    };
    let end = monitor.run(&mut source, &AtomicBool::new(false));
    assert_eq!(end, EndReason::SourceEnded);
    assert_eq!(classifier.remaining(), 0);

    use AlertKind::*;
    use AlertPhase::*;
    let expected = [
        // EMA (tau 500, 50 ms turns) reaches 0.6 at 10_450, held 2 s; below 0.4 at 20_450,
        // held 1 s.
        (12_450, Anger, Raised),
        (21_450, Anger, Cleared),
        (32_950, Fault, Raised), // garbage frames: no decisions since 29_950
        (41_000, Fault, Cleared),
        (53_000, Fault, Raised), // unplugged: no frames since 49_950
        (61_000, Fault, Cleared),
        (72_950, Fault, Raised), // wrong-size frames
        (81_000, Fault, Cleared),
        (92_950, Fault, Raised), // NaN from the model
        (101_000, Fault, Cleared),
        (113_000, Fault, Raised), // serial failing since the heartbeat at 110_000
        (126_050, Fault, Cleared),
        (142_950, FaceLost, Raised),
        (150_500, FaceLost, Cleared),
        (164_000, Fault, Raised), // stalled: no frames since 159_950
        (171_000, Fault, Cleared),
        // After the 10 s stall the EMA takes the first fear frame almost whole (the gap is
        // 20 time constants): 0.5 reached at 170_000, held 2 s; below 0.3 at 180_600.
        (172_000, Fear, Raised),
        (181_600, Fear, Cleared),
    ];
    let r = received.lock().unwrap();
    let on_serial: Vec<_> = r.alerts.clone();
    // What the line was down for is missing on the serial line, and nothing else.
    let delivered: Vec<_> = expected
        .iter()
        .copied()
        .filter(|(t, ..)| !SERIAL_DOWN.contains(t))
        .collect();
    assert_eq!(on_serial, delivered);
    assert_eq!(
        r.missing, r.failed_writes,
        "every failed write is a gap the receiver sees"
    );
    assert!(
        r.failed_writes >= 15,
        "heartbeats and the fault alert while down: {}",
        r.failed_writes
    );
    assert_eq!(
        r.faults_in_heartbeats,
        [
            FaultCause::NoDecisions,
            FaultCause::NoFrames,
            FaultCause::NoDecisions,
            FaultCause::NoDecisions,
            FaultCause::Outputs, // the first heartbeat through again, at 125_000
            FaultCause::NoFrames
        ],
        "heartbeats name the cause"
    );

    let c = monitor.counters();
    assert_eq!((c.raised, c.cleared), (9, 9));
    assert!(c.source_errors >= 20 && c.dropped >= 600, "{c:?}");
    assert!(c.output_errors >= 15);
    // One buzz per emotion or face-lost raise, three beeps per fault.
    assert_eq!(buzzer.rising_edges(), 3 + 6 * 3);
    assert!(led.rising_edges() > 6, "the LED blinks during faults");

    let memory = memory.lock().unwrap();
    let growth = memory.last().unwrap() - memory[1];
    assert!(
        growth < 64 * 1024,
        "memory grew by {growth} bytes over {} turns: {memory:?}",
        500 * (memory.len() - 2)
    );
    drop(r);
    drop(monitor);
    assert!(!buzzer.is_high() && !led.is_high(), "pins low once the loop is gone");
}

//! What the loop reports: what became of each frame (decided, or dropped and why), the
//! counters since start, how a run ended, and the summary printed at exit.

use std::fmt;

use shared::FaceBox;
use shared::wire::{AlertEvent, EmotionScores};

/// Why a frame produced no decision.
#[derive(Debug, Clone, PartialEq)]
pub enum DropReason {
    /// Not the configured frame size.
    WrongSize {
        /// Width and height of the frame.
        got: (u32, u32),
        /// The configured size.
        expected: (u32, u32),
    },
    /// The source could not deliver it.
    Unreadable(String),
    /// The face could not be cropped.
    Preprocess(String),
    /// The classifier failed or returned garbage.
    Inference(String),
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::WrongSize { got, expected } => {
                write!(
                    f,
                    "frame is {}x{}, expected {}x{}",
                    got.0, got.1, expected.0, expected.1
                )
            }
            DropReason::Unreadable(r) => write!(f, "unreadable: {r}"),
            DropReason::Preprocess(r) => write!(f, "preprocessing: {r}"),
            DropReason::Inference(r) => write!(f, "inference: {r}"),
        }
    }
}

/// What became of one frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The policy decided on it.
    Decided {
        /// The face it used, if any.
        face: Option<FaceBox>,
        /// The classifier's probabilities for that face.
        scores: Option<EmotionScores>,
        /// Alerts raised or cleared by this frame.
        events: Vec<AlertEvent>,
    },
    /// Dropped before a decision.
    Dropped {
        /// Why.
        reason: DropReason,
        /// Alerts raised or cleared by this turn (the fault alert).
        events: Vec<AlertEvent>,
    },
}

/// Counts since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames decided on.
    pub frames: u64,
    /// Decided frames with a face.
    pub faces: u64,
    /// Frames dropped (unreadable, wrong size, preprocessing or inference failure).
    pub dropped: u64,
    /// Times the source was unavailable.
    pub source_errors: u64,
    /// Output failures (serial, GPIO, stdout).
    pub output_errors: u64,
    /// Detector runs (the rest of the face frames were tracked).
    pub detections: u64,
    /// Alerts raised.
    pub raised: u64,
    /// Alerts cleared.
    pub cleared: u64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum EndReason {
    /// The source has no more frames.
    SourceEnded,
    /// The stop flag was set (Ctrl-C).
    Stopped,
    /// The source failed for good.
    SourceFailed(String),
}

/// Where the time went and what happened, for the exit report.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Counts.
    pub counters: Counters,
    /// Frame-to-decision latency, µs: p50, p90, p99, max.
    pub latency_us: [u32; 4],
    /// Total µs in face detection (incl. tracking), preprocessing, inference.
    pub detect_us: u64,
    /// See `detect_us`.
    pub preprocess_us: u64,
    /// See `detect_us`.
    pub inference_us: u64,
    /// Wall time from the first frame to the last, seconds.
    pub wall_s: f64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        let ms = |us: u32| us as f64 / 1000.0;
        let total = (self.detect_us + self.preprocess_us + self.inference_us).max(1) as f64;
        writeln!(
            f,
            "frames {} (faces {}, dropped {}, source errors {}, output errors {}), alerts raised {} cleared {}",
            c.frames, c.faces, c.dropped, c.source_errors, c.output_errors, c.raised, c.cleared
        )?;
        writeln!(
            f,
            "frame-to-decision latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            ms(self.latency_us[0]),
            ms(self.latency_us[1]),
            ms(self.latency_us[2]),
            ms(self.latency_us[3])
        )?;
        write!(
            f,
            "time in detection {:.0}%, preprocessing {:.0}%, inference {:.0}%; {:.1} frames/s over {:.1} s",
            100.0 * self.detect_us as f64 / total,
            100.0 * self.preprocess_us as f64 / total,
            100.0 * self.inference_us as f64 / total,
            (c.frames + c.dropped) as f64 / self.wall_s.max(1e-9),
            self.wall_s
        )
    }
}

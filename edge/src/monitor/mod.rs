//! The driver-monitoring loop: frame -> largest face -> preprocessing -> classifier ->
//! smoothing + policy -> outputs, with the bookkeeping a deployed monitor needs (dropped
//! frames, heartbeats, latency percentiles).
//!
//! Nothing a frame, the camera or the model does can stop the loop: a bad or wrong-size
//! frame, a preprocessing failure or a classifier error drops that frame (counted, logged);
//! an unavailable source is counted and asked again; only the end of the stream, a fatal
//! source error or the stop flag end [`Monitor::run`].
//!
//! Nor can any of them make the loop go blind silently: every turn (decided frame, dropped
//! frame, turn without a frame) goes to the policy, whose fault alert fires when decisions
//! stop or outputs keep failing; sinks are ticked and heartbeats sent on every turn, so the
//! buzzer's timing holds and the head unit hears from the edge while the camera is gone; the
//! systemd watchdog is fed only on turns that decided.
//!
//! Time: the policy and the heartbeats run on the frames' own timestamps, so a replay gives
//! the same alerts at any speed. A turn without a frame is timed on the [`Clock`] since the
//! last frame. Latencies are measured on the wall clock from the moment a frame reaches the
//! loop to the policy's decision on it.

mod clock;
mod outcome;
pub mod stats;

pub use clock::{Clock, MonotonicClock};
pub use outcome::{Counters, DropReason, EndReason, Outcome, Summary};

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use shared::INPUT_PIXELS;
use shared::policy::{Observation, Policy, PolicyConfig, PolicyConfigError};
use shared::preprocess::Preprocessing;
use shared::wire::{AlertEvent, AlertKind, AlertPhase, EmotionScores, Heartbeat, WIRE_VERSION};

use crate::detect::{FaceDetector, FaceSource, FaceTracker};
use crate::inference::face::FacePipeline;
use crate::inference::{Classifier, check_probabilities};
use crate::output::{Sink, Tick};
use crate::source::{Frame, FrameSource, SourceError};
use stats::LatencyHistogram;

/// Loop settings (the `[monitor]`, `[preprocessing]` and `[policy]` parts of `edge.toml`,
/// and the tracking part of `[detection]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonitorConfig {
    /// Crop, resize, enhancement and scaling of the face (must match the model's).
    pub preprocessing: Preprocessing,
    /// Alert policy.
    pub policy: PolicyConfig,
    /// Heartbeat period in frame-clock ms; 0 disables heartbeats.
    pub heartbeat_ms: u64,
    /// Run the face detector on every n-th frame while a face is tracked (1: every frame).
    pub detect_every: u32,
    /// Kalman-filter the face box: smoothed on detected frames, predicted on skipped ones
    /// (false: the detector's boxes, the last one reused on skipped frames).
    pub smooth_box: bool,
    /// Frames of any other size are dropped (`None`: accept any size).
    pub frame_size: Option<(u32, u32)>,
}

/// The alert loop's state.
pub struct Monitor<D, C> {
    tracker: FaceTracker<D>,
    classifier: C,
    faces: FacePipeline,
    policy: Policy,
    sinks: Vec<Box<dyn Sink>>,
    frame_size: Option<(u32, u32)>,
    heartbeat_ms: u64,
    input: Vec<f32>,
    counters: Counters,
    latency: LatencyHistogram,
    inference_window: LatencyHistogram,
    detect_us: u64,
    preprocess_us: u64,
    inference_us: u64,
    heartbeat_from: Option<(u64, u64)>,
    first_wall: Option<Instant>,
    last_wall: Option<Instant>,
    clock: Box<dyn Clock>,
    /// Clock time at start-up.
    started_ms: u64,
    /// The last frame's timestamp and the clock time it arrived.
    last_frame: Option<(u64, u64)>,
}

fn dropped(reason: DropReason) -> Outcome {
    Outcome::Dropped {
        reason,
        events: Vec::new(),
    }
}

/// Whether the `n`-th occurrence of a repeated problem goes to the log: every one is counted,
/// the log gets the first ten and then every `every`-th, so a persistently failing camera or
/// model does not flood the journal.
fn worth_logging(n: u64, every: u64) -> bool {
    n <= 10 || n.is_multiple_of(every)
}

fn micros(since: Instant) -> u32 {
    since.elapsed().as_micros().min(u32::MAX as u128) as u32
}

impl<D: FaceDetector, C: Classifier> Monitor<D, C> {
    /// A loop over `detector` and `classifier` sending events to `sinks`.
    pub fn new(
        config: MonitorConfig,
        detector: D,
        classifier: C,
        sinks: Vec<Box<dyn Sink>>,
    ) -> Result<Self, PolicyConfigError> {
        Ok(Monitor {
            tracker: FaceTracker::new(detector, config.detect_every, config.smooth_box),
            classifier,
            faces: FacePipeline::new(config.preprocessing),
            policy: Policy::new(config.policy)?,
            sinks,
            frame_size: config.frame_size,
            heartbeat_ms: config.heartbeat_ms,
            input: vec![0.0; INPUT_PIXELS],
            counters: Counters::default(),
            latency: LatencyHistogram::default(),
            inference_window: LatencyHistogram::default(),
            detect_us: 0,
            preprocess_us: 0,
            inference_us: 0,
            heartbeat_from: None,
            first_wall: None,
            last_wall: None,
            clock: Box::new(MonotonicClock::default()),
            started_ms: 0,
            last_frame: None,
        })
    }

    /// Prepares faces with `faces` instead of the config's classical preprocessing: the
    /// pipeline of a model trained behind a learned enhancer ([`FacePipeline::for_model`]).
    pub fn with_faces(mut self, faces: FacePipeline) -> Self {
        self.faces = faces;
        self
    }

    /// Times turns without a frame on `clock` instead of the system's monotonic clock.
    pub fn with_clock(mut self, clock: Box<dyn Clock>) -> Self {
        self.started_ms = clock.now_ms();
        self.clock = clock;
        self
    }

    /// The loop's time now, on the frame clock: the last frame's timestamp plus the time
    /// since it arrived (before any frame: the time since start-up).
    fn now_ms(&self) -> u64 {
        let now = self.clock.now_ms();
        match self.last_frame {
            Some((timestamp, at)) => timestamp.saturating_add(now.saturating_sub(at)),
            None => now.saturating_sub(self.started_ms),
        }
    }

    /// Counts so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The policy (for its active alerts and smoothed scores).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Runs one frame through the loop.
    pub fn process(&mut self, frame: &Frame) -> Outcome {
        let start = Instant::now();
        self.first_wall.get_or_insert(start);
        let t = frame.timestamp_ms;
        self.last_frame = Some((t, self.clock.now_ms()));
        let mut outcome = self.decide(frame, start);
        let decided = match &mut outcome {
            Outcome::Decided { face, .. } => {
                self.counters.frames += 1;
                self.counters.faces += face.is_some() as u64;
                self.latency.record(micros(start));
                true
            }
            Outcome::Dropped { reason, events } => {
                self.drop_frame(reason);
                *events = self.policy.observe(t, Observation::Dropped);
                false
            }
        };
        let (Outcome::Decided { events, .. } | Outcome::Dropped { events, .. }) = &outcome;
        self.emit(events);
        self.advance(t, decided);
        self.last_wall = Some(Instant::now());
        outcome
    }

    fn decide(&mut self, frame: &Frame, start: Instant) -> Outcome {
        let got = (frame.image.width(), frame.image.height());
        if let Some(expected) = self.frame_size
            && got != expected
        {
            return dropped(DropReason::WrongSize { got, expected });
        }
        let (face, how) = self.tracker.locate(&frame.image, frame.timestamp_ms);
        self.counters.detections += (how == FaceSource::Detected) as u64;
        let detected = Instant::now();
        self.detect_us += detected.duration_since(start).as_micros() as u64;
        let Some(face) = face else {
            let events = self.policy.observe(frame.timestamp_ms, Observation::NoFace);
            return Outcome::Decided {
                face: None,
                scores: None,
                events,
            };
        };
        let prepared = self.faces.input_into(&frame.image, face, &mut self.input);
        let preprocessed = Instant::now();
        self.preprocess_us += preprocessed.duration_since(detected).as_micros() as u64;
        if let Err(e) = prepared {
            self.tracker.reset();
            return dropped(DropReason::Preprocess(e.to_string()));
        }
        let result = self
            .classifier
            .classify(&self.input)
            .and_then(|p| check_probabilities(&p).map(|()| p));
        let inference = micros(preprocessed);
        self.inference_us += inference as u64;
        self.inference_window.record(inference);
        let probabilities = match result {
            Ok(p) => p,
            Err(e) => return dropped(DropReason::Inference(e.to_string())),
        };
        let scores = EmotionScores(probabilities);
        let events = self
            .policy
            .observe(frame.timestamp_ms, Observation::Face { scores, face });
        Outcome::Decided {
            face: Some(face),
            scores: Some(scores),
            events,
        }
    }

    fn drop_frame(&mut self, reason: &DropReason) {
        self.counters.dropped += 1;
        let n = self.counters.dropped;
        if worth_logging(n, 1000) {
            tracing::warn!(dropped_total = n, %reason, "frame dropped");
        }
    }

    fn emit(&mut self, events: &[AlertEvent]) {
        for event in events {
            match event.phase {
                AlertPhase::Raised => self.counters.raised += 1,
                AlertPhase::Cleared => self.counters.cleared += 1,
            }
            if event.kind == AlertKind::Fault {
                match (event.phase, self.policy.fault()) {
                    (AlertPhase::Raised, Some(cause)) => {
                        tracing::error!(cause = cause.name(), "FAULT: the monitor is not watching")
                    }
                    _ => tracing::warn!("fault cleared: the monitor is deciding again"),
                }
            }
            let mask = self.policy.active_mask();
            for sink in self.sinks.iter_mut() {
                if let Err(e) = sink.alert(event, mask) {
                    self.counters.output_errors += 1;
                    tracing::error!(error = %e, "alert output failed");
                }
            }
        }
    }

    /// Ends a turn at `t_ms`: ticks the sinks, sends a heartbeat when one is due, and tells
    /// the policy whether the outputs work.
    fn advance(&mut self, t_ms: u64, decided: bool) {
        let tick = Tick {
            t_ms,
            decided,
            active_mask: self.policy.active_mask(),
        };
        for sink in self.sinks.iter_mut() {
            if let Err(e) = sink.tick(&tick) {
                self.counters.output_errors += 1;
                tracing::error!(error = %e, "output failed");
            }
        }
        self.heartbeat(t_ms);
        let ok = self.sinks.iter().all(|s| s.healthy());
        self.policy.outputs(t_ms, ok);
    }

    fn heartbeat(&mut self, t_ms: u64) {
        if self.heartbeat_ms == 0 {
            return;
        }
        let (from_t, from_frames) = *self.heartbeat_from.get_or_insert((t_ms, self.counters.frames));
        let elapsed = t_ms.saturating_sub(from_t);
        if elapsed < self.heartbeat_ms {
            return;
        }
        let frames = self.counters.frames - from_frames;
        let heartbeat = Heartbeat {
            timestamp_ms: t_ms,
            wire_version: WIRE_VERSION,
            fps_milli: (frames * 1_000_000 / elapsed).min(u32::MAX as u64) as u32,
            frames: self.counters.frames,
            faces: self.counters.faces,
            dropped_frames: self.counters.dropped,
            source_errors: self.counters.source_errors,
            output_errors: self.counters.output_errors,
            inference_us_p50: self.inference_window.percentile(0.5),
            inference_us_p99: self.inference_window.percentile(0.99),
            active_alerts: self.policy.active_mask(),
            fault: self.policy.fault(),
        };
        self.inference_window.clear();
        self.heartbeat_from = Some((t_ms, self.counters.frames));
        for sink in self.sinks.iter_mut() {
            if let Err(e) = sink.heartbeat(&heartbeat) {
                self.counters.output_errors += 1;
                tracing::error!(error = %e, "heartbeat output failed");
            }
        }
    }

    /// Accounts for a source error that is not the end, as one turn of the loop at the
    /// [`Clock`]'s time: a bad frame is dropped, an unavailable source is counted (the source
    /// itself waits before the next try); either way the policy hears of a turn without a
    /// decision.
    pub fn source_error(&mut self, error: &SourceError) {
        let t = self.now_ms();
        let observation = match error {
            SourceError::BadFrame { .. } => {
                self.drop_frame(&DropReason::Unreadable(error.to_string()));
                Observation::Dropped
            }
            _ => {
                self.counters.source_errors += 1;
                let n = self.counters.source_errors;
                if worth_logging(n, 100) {
                    tracing::warn!(%error, errors_total = n, "frame source error");
                }
                Observation::NoFrame
            }
        };
        let events = self.policy.observe(t, observation);
        self.emit(&events);
        self.advance(t, false);
    }

    /// Runs until the source ends, fails for good, or `stop` is set.
    pub fn run<S: FrameSource + ?Sized>(&mut self, source: &mut S, stop: &AtomicBool) -> EndReason {
        loop {
            if stop.load(Ordering::Relaxed) {
                return EndReason::Stopped;
            }
            match source.next_frame() {
                Ok(Some(frame)) => {
                    self.process(&frame);
                }
                Ok(None) => return EndReason::SourceEnded,
                Err(SourceError::Fatal(reason)) => return EndReason::SourceFailed(reason),
                Err(e) => self.source_error(&e),
            }
        }
    }

    /// Counts, latency percentiles and time shares so far.
    pub fn summary(&self) -> Summary {
        let l = &self.latency;
        Summary {
            counters: self.counters,
            latency_us: [l.percentile(0.5), l.percentile(0.9), l.percentile(0.99), l.max()],
            detect_us: self.detect_us,
            preprocess_us: self.preprocess_us,
            inference_us: self.inference_us,
            wall_s: match (self.first_wall, self.last_wall) {
                (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
                _ => 0.0,
            },
        }
    }
}

#[cfg(test)]
mod soak;
#[cfg(test)]
mod tests;

//! The alert policy: from per-frame classifier output to driver alerts, as a pure state
//! machine (no I/O, no clock, `no_std`) so every decision can be replayed and unit-tested.
//!
//! Per frame the caller passes the frame time and either the classifier's probabilities for
//! the face it found or "no face". The policy
//!
//! 1. smooths the probabilities with a frame-rate independent EMA ([`smoothing`]); frames
//!    without a face do not count as an emotion: the smoothed state is held, not fed zeros;
//! 2. derives three signals: anger, fear, and distress = sad + disgust ("bored");
//! 3. runs one small state machine per alert: raise when the signal has stayed at or above
//!    its raise threshold for a minimum time (short spikes never alert), clear when it has
//!    stayed below a lower clear threshold for a minimum time (hysteresis: a value hovering
//!    at the threshold does not toggle), then a cool-down before the same alert can fire
//!    again;
//! 4. raises face-lost when no face has been seen for a while, and clears it once a face
//!    has been seen continuously for a short time;
//! 5. raises the fault alert when the loop has stopped deciding or its outputs keep failing
//!    ([`fault`]): the caller reports frames it could not decide on and turns without a
//!    frame too.
//!
//! Emotion alerts are judged on face frames only. An active emotion alert stays active while
//! the face is missing (face-lost speaks for that time); a face gap longer than
//! [`PolicyConfig::face_gap_reset_ms`] restarts pending onset/clear timers.
//!
//! All tunables live in [`PolicyConfig`]; their defaults are the constants in [`config`].

pub mod config;
pub mod fault;
pub mod smoothing;

use alloc::vec::Vec;

pub use config::{EmotionRule, FaceLostRule, PolicyConfig, PolicyConfigError};
pub use fault::{FaultRule, Turn};
pub use smoothing::Smoother;

use fault::FaultAlert;

use crate::image::FaceBox;
use crate::labels::Emotion;
use crate::wire::{AlertEvent, AlertKind, AlertPhase, EmotionScores, FaultCause};

/// What one turn of the loop saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observation {
    /// A face and the classifier's probabilities for it.
    Face {
        /// Class probabilities in [`Emotion::ALL`] order.
        scores: EmotionScores,
        /// Where the face is.
        face: FaceBox,
    },
    /// No face in this frame.
    NoFace,
    /// A frame that could not be decided on (unusable, preprocessing or inference failed).
    Dropped,
    /// No frame this turn: the source was unavailable.
    NoFrame,
}

impl Observation {
    fn turn(&self) -> Turn {
        match self {
            Observation::Face { .. } | Observation::NoFace => Turn::Decided,
            Observation::Dropped => Turn::Undecided,
            Observation::NoFrame => Turn::NoFrame,
        }
    }
}

/// One sustained-emotion alert's state.
#[derive(Debug, Clone)]
struct EmotionAlert {
    kind: AlertKind,
    rule: EmotionRule,
    active: bool,
    /// Start of the current run above `raise` (inactive) or below `clear` (active).
    since: Option<u64>,
    cooldown_until: u64,
}

impl EmotionAlert {
    /// The alert `kind` (one of [`EMOTION_ALERTS`]) in its start state, with its rule from
    /// `config`.
    fn new(kind: AlertKind, config: &PolicyConfig) -> Self {
        EmotionAlert {
            kind,
            rule: config.emotion_rule(kind).copied().unwrap_or(EmotionRule::DISABLED),
            active: false,
            since: None,
            cooldown_until: 0,
        }
    }

    /// Advances on one face frame; returns the phase change, if any.
    fn step(&mut self, t: u64, signal: f32) -> Option<AlertPhase> {
        if !self.rule.enabled {
            return None;
        }
        let (condition, need) = if self.active {
            (signal < self.rule.clear, self.rule.clear_after_ms)
        } else {
            (signal >= self.rule.raise, self.rule.raise_after_ms)
        };
        if !condition {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert(t);
        if t.saturating_sub(since) < need as u64 {
            return None;
        }
        if self.active {
            self.active = false;
            self.since = None;
            self.cooldown_until = t.saturating_add(self.rule.cooldown_ms as u64);
            Some(AlertPhase::Cleared)
        } else if t >= self.cooldown_until {
            self.active = true;
            self.since = None;
            Some(AlertPhase::Raised)
        } else {
            // Sustained, but cooling down: fires when the cool-down ends if still sustained.
            None
        }
    }
}

/// The face-lost alert's state.
#[derive(Debug, Clone)]
struct FaceLostAlert {
    rule: FaceLostRule,
    active: bool,
    /// Time of the last face frame, or of the first frame while no face has been seen.
    last_face: Option<u64>,
    /// Start of the current continuous run of face frames while active.
    back_since: Option<u64>,
    cooldown_until: u64,
}

impl FaceLostAlert {
    fn new(rule: FaceLostRule) -> Self {
        FaceLostAlert {
            rule,
            active: false,
            last_face: None,
            back_since: None,
            cooldown_until: 0,
        }
    }

    fn step(&mut self, t: u64, face: bool) -> Option<AlertPhase> {
        let last_face = *self.last_face.get_or_insert(t);
        if face {
            self.last_face = Some(t.max(last_face));
        }
        if !self.rule.enabled {
            return None;
        }
        if face {
            if !self.active {
                return None;
            }
            let since = *self.back_since.get_or_insert(t);
            if t.saturating_sub(since) >= self.rule.clear_after_ms as u64 {
                self.active = false;
                self.back_since = None;
                self.cooldown_until = t.saturating_add(self.rule.cooldown_ms as u64);
                return Some(AlertPhase::Cleared);
            }
            None
        } else {
            self.back_since = None;
            let absent = t.saturating_sub(last_face);
            if !self.active && absent >= self.rule.raise_after_ms as u64 && t >= self.cooldown_until {
                self.active = true;
                return Some(AlertPhase::Raised);
            }
            None
        }
    }
}

/// The alert policy: feed it every frame with [`Policy::observe`].
#[derive(Debug, Clone)]
pub struct Policy {
    config: PolicyConfig,
    smoother: Smoother,
    emotions: [EmotionAlert; 3],
    face_lost: FaceLostAlert,
    fault: FaultAlert,
    /// Time of the last face frame with probabilities (evidence for the emotion alerts).
    last_face_frame: Option<u64>,
}

impl Policy {
    /// A policy in its start state; fails on an invalid configuration.
    pub fn new(config: PolicyConfig) -> Result<Self, PolicyConfigError> {
        config.validate()?;
        Ok(Policy {
            config,
            smoother: Smoother::new(config.smoothing_tau_ms),
            emotions: EMOTION_ALERTS.map(|kind| EmotionAlert::new(kind, &config)),
            face_lost: FaceLostAlert::new(config.face_lost),
            fault: FaultAlert::new(config.fault),
            last_face_frame: None,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Processes one turn of the loop at `t_ms` (monotonic milliseconds); returns the alerts
    /// raised or cleared by it, in [`AlertKind::ALL`] order.
    ///
    /// Emotion and face-lost alerts are judged on decided frames only (face or no face).
    /// Scores that are not probabilities (NaN, infinite, outside 0..=1) are not evidence:
    /// such a frame only advances the face-lost timers, as a face frame, and does not bridge
    /// a gap in the evidence an emotion alert needs.
    pub fn observe(&mut self, t_ms: u64, observation: Observation) -> Vec<AlertEvent> {
        let mut events = Vec::new();
        let turn = observation.turn();
        let face = match observation {
            Observation::Face { scores, face } => Some((scores, face)),
            _ => None,
        };
        let event = |kind, phase, scores| AlertEvent {
            timestamp_ms: t_ms,
            kind,
            phase,
            scores,
            face: face.map(|f| f.1),
        };
        if let Some((scores, _)) = face
            && scores.are_probabilities()
        {
            if let Some(last) = self.last_face_frame
                && t_ms.saturating_sub(last) > self.config.face_gap_reset_ms as u64
            {
                self.emotions.iter_mut().for_each(|e| e.since = None);
            }
            self.last_face_frame = Some(self.last_face_frame.map_or(t_ms, |l| l.max(t_ms)));
            if let Some(smoothed) = self.smoother.update(t_ms, &scores) {
                for alert in self.emotions.iter_mut() {
                    if let Some(phase) = alert.step(t_ms, signal(alert.kind, &smoothed).unwrap_or(0.0)) {
                        events.push(event(alert.kind, phase, smoothed));
                    }
                }
            }
        }
        // Face-lost and fault carry the smoothed scores as they stand.
        let held = self.smoother.current().unwrap_or_default();
        if turn == Turn::Decided
            && let Some(phase) = self.face_lost.step(t_ms, face.is_some())
        {
            events.push(event(AlertKind::FaceLost, phase, held));
        }
        if let Some(phase) = self.fault.step(t_ms, turn) {
            events.push(event(AlertKind::Fault, phase, held));
        }
        events
    }

    /// Records whether every output worked at `t_ms` (after the caller's last delivery); an
    /// output failing for the fault rule's time raises the fault at the next turn.
    pub fn outputs(&mut self, t_ms: u64, ok: bool) {
        self.fault.outputs(t_ms, ok);
    }

    /// Why the fault alert is active, if it is.
    pub fn fault(&self) -> Option<FaultCause> {
        self.fault.cause()
    }

    /// Smoothed class probabilities so far (held through frames without a face).
    pub fn smoothed(&self) -> Option<EmotionScores> {
        self.smoother.current()
    }

    /// Whether an alert is currently raised.
    pub fn is_active(&self, kind: AlertKind) -> bool {
        match kind {
            AlertKind::FaceLost => self.face_lost.active,
            AlertKind::Fault => self.fault.cause().is_some(),
            _ => self.emotions.iter().any(|e| e.kind == kind && e.active),
        }
    }

    /// Bit mask of the raised alerts ([`AlertKind::bit`]), as in heartbeats.
    pub fn active_mask(&self) -> u8 {
        AlertKind::ALL
            .iter()
            .filter(|&&k| self.is_active(k))
            .fold(0, |m, k| m | k.bit())
    }
}

/// The alerts that watch emotions, in [`AlertKind::ALL`] order.
pub const EMOTION_ALERTS: [AlertKind; 3] = [AlertKind::Anger, AlertKind::Fear, AlertKind::Distress];

/// The value the emotion alert `kind` thresholds, from (smoothed) class probabilities;
/// `None` for the alerts that do not watch emotions (face-lost, fault).
pub fn signal(kind: AlertKind, s: &EmotionScores) -> Option<f32> {
    match kind {
        AlertKind::Anger => Some(s.get(Emotion::Angry)),
        AlertKind::Fear => Some(s.get(Emotion::Fear)),
        AlertKind::Distress => Some(s.get(Emotion::Sad) + s.get(Emotion::Bored)),
        AlertKind::FaceLost | AlertKind::Fault => None,
    }
}

#[cfg(test)]
mod tests;

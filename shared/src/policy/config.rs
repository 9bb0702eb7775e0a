//! Every tunable of the alert policy, with its default, in one place.
//!
//! The defaults are the `DEFAULT_*` constants below (and nowhere else): the edge's
//! `edge.toml` documents the same numbers, and a test there checks that the file and these
//! constants agree. All times are milliseconds of the frame clock, so a replay at any speed
//! takes the same decisions as the live camera.

use serde::{Deserialize, Serialize};

use super::fault::FaultRule;
use crate::wire::AlertKind;

/// Time constant of the exponential moving average over class probabilities: after this
/// long, a new steady expression has moved the smoothed score ~63% of the way.
pub const DEFAULT_SMOOTHING_TAU_MS: u32 = 500;
/// A gap between two face frames longer than this restarts the onset and clear timers of
/// the emotion alerts ("sustained" means seen, not assumed through a long absence); shorter
/// gaps (a missed detection or two) are bridged.
pub const DEFAULT_FACE_GAP_RESET_MS: u32 = 1_000;

/// Anger: raise when the smoothed anger probability stays at or above this...
pub const DEFAULT_ANGER_RAISE: f32 = 0.6;
/// ...and clear once it has stayed below this (hysteresis band 0.4..0.6).
pub const DEFAULT_ANGER_CLEAR: f32 = 0.4;
/// Fear raise threshold (fear is rarer and less pronounced than anger in the data).
pub const DEFAULT_FEAR_RAISE: f32 = 0.5;
/// Fear clear threshold.
pub const DEFAULT_FEAR_CLEAR: f32 = 0.3;
/// Distress (sad + disgust/"bored") raise threshold on the summed probability.
pub const DEFAULT_DISTRESS_RAISE: f32 = 0.6;
/// Distress clear threshold.
pub const DEFAULT_DISTRESS_CLEAR: f32 = 0.4;
/// How long an emotion must stay above its raise threshold before the alert fires.
pub const DEFAULT_EMOTION_RAISE_AFTER_MS: u32 = 2_000;
/// Distress is a slow state, not a flash: it must hold longer.
pub const DEFAULT_DISTRESS_RAISE_AFTER_MS: u32 = 3_000;
/// How long an emotion must stay below its clear threshold before the alert clears.
pub const DEFAULT_EMOTION_CLEAR_AFTER_MS: u32 = 1_000;
/// After an emotion alert clears, the same alert cannot fire again for this long.
pub const DEFAULT_EMOTION_COOLDOWN_MS: u32 = 10_000;
/// No face for this long raises the face-lost alert.
pub const DEFAULT_FACE_LOST_AFTER_MS: u32 = 3_000;
/// The face must be seen continuously this long before face-lost clears.
pub const DEFAULT_FACE_BACK_AFTER_MS: u32 = 500;
/// After face-lost clears, it cannot fire again for this long.
pub const DEFAULT_FACE_LOST_COOLDOWN_MS: u32 = 5_000;

/// No decision for this long (frames failing, or no frames at all), or an output failing
/// this long, raises the fault alert: long enough to bridge a camera's reconnect, short
/// enough that the driver is not left trusting a blind monitor.
pub const DEFAULT_FAULT_AFTER_MS: u32 = 3_000;
/// Decisions must flow with working outputs this long before the fault clears.
pub const DEFAULT_FAULT_CLEAR_AFTER_MS: u32 = 1_000;
/// The longest either fault timing may be: a fault that waits longer is as good as disabled,
/// and the board's systemd watchdog (`WatchdogSec=30`) would restart the loop first.
pub const MAX_FAULT_MS: u32 = 30_000;

/// An invalid policy setting; `key` is the setting's path as written in `edge.toml`
/// (relative to the `[policy]` table).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct PolicyConfigError {
    /// E.g. `anger.clear`.
    pub key: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A sustained-emotion alert: thresholds on a smoothed probability with hysteresis,
/// minimum durations and a cool-down.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EmotionRule {
    /// Whether this alert is evaluated at all.
    pub enabled: bool,
    /// Raise when the signal is `>= raise` for `raise_after_ms`.
    pub raise: f32,
    /// Clear when the signal is `< clear` for `clear_after_ms`; must be below `raise`.
    pub clear: f32,
    /// Minimum time above `raise` before raising.
    pub raise_after_ms: u32,
    /// Minimum time below `clear` before clearing.
    pub clear_after_ms: u32,
    /// Quiet time after a clear during which the alert cannot be raised again.
    pub cooldown_ms: u32,
}

impl EmotionRule {
    /// A rule that never raises: what an alert that watches no emotion would get.
    pub(crate) const DISABLED: EmotionRule = EmotionRule {
        enabled: false,
        ..EmotionRule::with(1.0, 0.0, 0)
    };

    const fn with(raise: f32, clear: f32, raise_after_ms: u32) -> Self {
        EmotionRule {
            enabled: true,
            raise,
            clear,
            raise_after_ms,
            clear_after_ms: DEFAULT_EMOTION_CLEAR_AFTER_MS,
            cooldown_ms: DEFAULT_EMOTION_COOLDOWN_MS,
        }
    }

    fn validate(&self, raise_key: &'static str, clear_key: &'static str) -> Result<(), PolicyConfigError> {
        let unit = |v: f32| v.is_finite() && (0.0..=1.0).contains(&v);
        if !unit(self.raise) {
            return Err(PolicyConfigError {
                key: raise_key,
                reason: "must be a number in 0..=1",
            });
        }
        if !unit(self.clear) {
            return Err(PolicyConfigError {
                key: clear_key,
                reason: "must be a number in 0..=1",
            });
        }
        if self.clear >= self.raise {
            return Err(PolicyConfigError {
                key: clear_key,
                reason: "must be below the raise threshold (hysteresis)",
            });
        }
        Ok(())
    }
}

/// The face-lost alert: no face for a while.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FaceLostRule {
    /// Whether this alert is evaluated at all.
    pub enabled: bool,
    /// Raise after this long without a face (also counted from start-up).
    pub raise_after_ms: u32,
    /// Clear once a face has been seen continuously this long.
    pub clear_after_ms: u32,
    /// Quiet time after a clear during which the alert cannot be raised again.
    pub cooldown_ms: u32,
}

/// The whole policy configuration (`[policy]` in `edge.toml`).
///
/// Deserialising merges what is given onto [`PolicyConfig::default`] key by key: a
/// `[policy.fear]` table with only `raise` keeps fear's own defaults for the other keys.
/// Unknown keys are errors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "PolicyConfigPatch")]
pub struct PolicyConfig {
    /// EMA time constant over class probabilities; 0 disables smoothing.
    pub smoothing_tau_ms: u32,
    /// Face gap after which emotion onset/clear timers restart.
    pub face_gap_reset_ms: u32,
    /// Sustained anger.
    pub anger: EmotionRule,
    /// Sustained fear.
    pub fear: EmotionRule,
    /// Sustained distress: sad + disgust ("bored") summed.
    pub distress: EmotionRule,
    /// No face / face lost.
    pub face_lost: FaceLostRule,
    /// The monitor not deciding, or its outputs failing.
    pub fault: FaultRule,
}

impl Default for FaultRule {
    fn default() -> Self {
        FaultRule {
            raise_after_ms: DEFAULT_FAULT_AFTER_MS,
            clear_after_ms: DEFAULT_FAULT_CLEAR_AFTER_MS,
        }
    }
}

impl Default for FaceLostRule {
    fn default() -> Self {
        FaceLostRule {
            enabled: true,
            raise_after_ms: DEFAULT_FACE_LOST_AFTER_MS,
            clear_after_ms: DEFAULT_FACE_BACK_AFTER_MS,
            cooldown_ms: DEFAULT_FACE_LOST_COOLDOWN_MS,
        }
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            smoothing_tau_ms: DEFAULT_SMOOTHING_TAU_MS,
            face_gap_reset_ms: DEFAULT_FACE_GAP_RESET_MS,
            anger: EmotionRule::with(DEFAULT_ANGER_RAISE, DEFAULT_ANGER_CLEAR, DEFAULT_EMOTION_RAISE_AFTER_MS),
            fear: EmotionRule::with(DEFAULT_FEAR_RAISE, DEFAULT_FEAR_CLEAR, DEFAULT_EMOTION_RAISE_AFTER_MS),
            distress: EmotionRule::with(
                DEFAULT_DISTRESS_RAISE,
                DEFAULT_DISTRESS_CLEAR,
                DEFAULT_DISTRESS_RAISE_AFTER_MS,
            ),
            face_lost: FaceLostRule::default(),
            fault: FaultRule::default(),
        }
    }
}

impl PolicyConfig {
    /// The rule of the emotion alert `kind`; `None` for face-lost and fault.
    pub fn emotion_rule(&self, kind: AlertKind) -> Option<&EmotionRule> {
        match kind {
            AlertKind::Anger => Some(&self.anger),
            AlertKind::Fear => Some(&self.fear),
            AlertKind::Distress => Some(&self.distress),
            AlertKind::FaceLost | AlertKind::Fault => None,
        }
    }

    /// Checks thresholds (in 0..=1, clear below raise); the error names the offending key.
    pub fn validate(&self) -> Result<(), PolicyConfigError> {
        self.anger.validate("anger.raise", "anger.clear")?;
        self.fear.validate("fear.raise", "fear.clear")?;
        self.distress.validate("distress.raise", "distress.clear")?;
        if !(1..=MAX_FAULT_MS).contains(&self.fault.raise_after_ms) {
            return Err(PolicyConfigError {
                key: "fault.raise_after_ms",
                reason: "must be in 1..=30000 ms (the fault alert cannot be disabled)",
            });
        }
        if self.fault.clear_after_ms > MAX_FAULT_MS {
            return Err(PolicyConfigError {
                key: "fault.clear_after_ms",
                reason: "must be at most 30000 ms (a fault that never clears hides the next one)",
            });
        }
        Ok(())
    }
}

/// What a config file may say about one emotion rule; absent keys keep the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmotionRulePatch {
    enabled: Option<bool>,
    raise: Option<f32>,
    clear: Option<f32>,
    raise_after_ms: Option<u32>,
    clear_after_ms: Option<u32>,
    cooldown_ms: Option<u32>,
}

impl EmotionRulePatch {
    fn apply(self, base: EmotionRule) -> EmotionRule {
        EmotionRule {
            enabled: self.enabled.unwrap_or(base.enabled),
            raise: self.raise.unwrap_or(base.raise),
            clear: self.clear.unwrap_or(base.clear),
            raise_after_ms: self.raise_after_ms.unwrap_or(base.raise_after_ms),
            clear_after_ms: self.clear_after_ms.unwrap_or(base.clear_after_ms),
            cooldown_ms: self.cooldown_ms.unwrap_or(base.cooldown_ms),
        }
    }
}

/// What a config file may say about the face-lost rule.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaceLostRulePatch {
    enabled: Option<bool>,
    raise_after_ms: Option<u32>,
    clear_after_ms: Option<u32>,
    cooldown_ms: Option<u32>,
}

/// What a config file may say about the fault rule.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRulePatch {
    raise_after_ms: Option<u32>,
    clear_after_ms: Option<u32>,
}

/// What a config file may say about the policy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyConfigPatch {
    smoothing_tau_ms: Option<u32>,
    face_gap_reset_ms: Option<u32>,
    #[serde(default)]
    anger: EmotionRulePatch,
    #[serde(default)]
    fear: EmotionRulePatch,
    #[serde(default)]
    distress: EmotionRulePatch,
    #[serde(default)]
    face_lost: FaceLostRulePatch,
    #[serde(default)]
    fault: FaultRulePatch,
}

impl From<PolicyConfigPatch> for PolicyConfig {
    fn from(p: PolicyConfigPatch) -> Self {
        let d = PolicyConfig::default();
        let f = p.face_lost;
        PolicyConfig {
            smoothing_tau_ms: p.smoothing_tau_ms.unwrap_or(d.smoothing_tau_ms),
            face_gap_reset_ms: p.face_gap_reset_ms.unwrap_or(d.face_gap_reset_ms),
            anger: p.anger.apply(d.anger),
            fear: p.fear.apply(d.fear),
            distress: p.distress.apply(d.distress),
            face_lost: FaceLostRule {
                enabled: f.enabled.unwrap_or(d.face_lost.enabled),
                raise_after_ms: f.raise_after_ms.unwrap_or(d.face_lost.raise_after_ms),
                clear_after_ms: f.clear_after_ms.unwrap_or(d.face_lost.clear_after_ms),
                cooldown_ms: f.cooldown_ms.unwrap_or(d.face_lost.cooldown_ms),
            },
            fault: FaultRule {
                raise_after_ms: p.fault.raise_after_ms.unwrap_or(d.fault.raise_after_ms),
                clear_after_ms: p.fault.clear_after_ms.unwrap_or(d.fault.clear_after_ms),
            },
        }
    }
}

//! The fault alert: the monitor says when it is not watching.
//!
//! A driver monitor that stops deciding without a sign is worse than none, because the
//! driver trusts its silence. So the loop reports every turn to the policy, not only the
//! frames it decided on: a decision (face or no face), a frame it could not decide on, a
//! turn without a frame (the source unavailable), and whether its outputs work. The fault is
//! raised when no decision has been made for [`FaultRule::raise_after_ms`], or an output has
//! kept failing that long, and cleared once decisions have flowed with working outputs for
//! [`FaultRule::clear_after_ms`]. It cannot be disabled.

use crate::wire::{AlertPhase, FaultCause};

/// Fault timing (`[policy.fault]` in `edge.toml`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FaultRule {
    /// Raise after this long without a decision, or with an output failing.
    pub raise_after_ms: u32,
    /// Clear once decisions have flowed, with all outputs working, this long.
    pub clear_after_ms: u32,
}

/// What one turn of the loop amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// A frame was decided on (with or without a face).
    Decided,
    /// A frame arrived but was dropped before a decision.
    Undecided,
    /// No frame: the source was unavailable.
    NoFrame,
}

/// The fault alert's state.
#[derive(Debug, Clone)]
pub(crate) struct FaultAlert {
    rule: FaultRule,
    cause: Option<FaultCause>,
    /// Time of the last decision, or of the first turn before any.
    last_decision: Option<u64>,
    /// Time of the last frame, or of the first turn before any.
    last_frame: Option<u64>,
    /// Since when an output has been failing (reset by a turn with all outputs working).
    outputs_failing_since: Option<u64>,
    /// Start of the current run of healthy decided turns while active.
    healthy_since: Option<u64>,
}

impl FaultAlert {
    pub(crate) fn new(rule: FaultRule) -> Self {
        FaultAlert {
            rule,
            cause: None,
            last_decision: None,
            last_frame: None,
            outputs_failing_since: None,
            healthy_since: None,
        }
    }

    /// Why the fault is active, if it is.
    pub(crate) fn cause(&self) -> Option<FaultCause> {
        self.cause
    }

    /// Records whether the outputs worked at `t` (all of them: `true`).
    pub(crate) fn outputs(&mut self, t: u64, ok: bool) {
        if ok {
            self.outputs_failing_since = None;
        } else {
            self.outputs_failing_since.get_or_insert(t);
            self.healthy_since = None;
        }
    }

    /// Advances on one turn of the loop; returns the phase change, if any.
    pub(crate) fn step(&mut self, t: u64, turn: Turn) -> Option<AlertPhase> {
        let last_decision = *self.last_decision.get_or_insert(t);
        let mut last_frame = *self.last_frame.get_or_insert(t);
        if turn != Turn::NoFrame {
            last_frame = t.max(last_frame);
            self.last_frame = Some(last_frame);
        }
        if turn == Turn::Decided {
            self.last_decision = Some(t.max(last_decision));
        }
        let now = self.cause_at(t, turn, last_decision, last_frame);
        if self.cause.is_some() {
            // While it lasts, the cause follows what is wrong now (a camera that sent garbage
            // and then vanished is `NoFrames`, not the `NoDecisions` it was raised with).
            if now.is_some() {
                self.cause = now;
            }
            if turn != Turn::Decided || self.outputs_failing_since.is_some() {
                self.healthy_since = None;
                return None;
            }
            let since = *self.healthy_since.get_or_insert(t);
            if t.saturating_sub(since) < self.rule.clear_after_ms as u64 {
                return None;
            }
            self.cause = None;
            self.healthy_since = None;
            return Some(AlertPhase::Cleared);
        }
        self.cause = Some(now?);
        self.healthy_since = None;
        Some(AlertPhase::Raised)
    }

    /// What is wrong at `t`, judged by the raise rule alone; `None` when nothing is.
    fn cause_at(&self, t: u64, turn: Turn, last_decision: u64, last_frame: u64) -> Option<FaultCause> {
        let after = self.rule.raise_after_ms as u64;
        if self.outputs_failing_since.is_some_and(|s| t.saturating_sub(s) >= after) {
            Some(FaultCause::Outputs)
        } else if t.saturating_sub(last_decision) < after || turn == Turn::Decided {
            None
        } else if t.saturating_sub(last_frame) >= after {
            Some(FaultCause::NoFrames)
        } else {
            Some(FaultCause::NoDecisions)
        }
    }
}

//! Scripted score sequences through the policy with the default configuration: each test
//! states the frame times at which alerts must fire, computed from the EMA and thresholds.

use alloc::vec::Vec;

use super::*;
use config::MAX_FAULT_MS;

const STEP: u64 = 100; // 10 fps
const FACE: FaceBox = FaceBox::new(10, 20, 100, 100);

fn scores(pairs: &[(Emotion, f32)]) -> EmotionScores {
    let mut s = [0.0; crate::NUM_CLASSES];
    let mut rest = 1.0;
    for &(e, p) in pairs {
        s[e.index()] = p;
        rest -= p;
    }
    s[Emotion::Neutral.index()] += rest.max(0.0);
    EmotionScores(s)
}

fn neutral() -> Observation {
    Observation::Face {
        scores: scores(&[]),
        face: FACE,
    }
}

fn with(pairs: &[(Emotion, f32)]) -> Observation {
    Observation::Face {
        scores: scores(pairs),
        face: FACE,
    }
}

/// Feeds `obs` every `STEP` ms for `from..to`; returns (time, kind, phase) of each event.
fn feed(p: &mut Policy, from: u64, to: u64, obs: Observation) -> Vec<(u64, AlertKind, AlertPhase)> {
    (from..to)
        .step_by(STEP as usize)
        .flat_map(|t| p.observe(t, obs))
        .map(|e| (e.timestamp_ms, e.kind, e.phase))
        .collect()
}

fn policy() -> Policy {
    Policy::new(PolicyConfig::default()).unwrap()
}

use AlertKind::*;
use AlertPhase::*;

#[test]
fn sustained_anger_raises_after_the_minimum_duration() {
    let mut p = policy();
    assert!(feed(&mut p, 0, 2000, neutral()).is_empty());
    // Anger from 2000: the EMA (tau 500) first reaches 0.6 at 2400 (1 - e^-1 = 0.63; at
    // 2300 it is 0.55), then it must hold 2000 ms: raised at 4400, not a frame earlier.
    let events = feed(&mut p, 2000, 8000, with(&[(Emotion::Angry, 1.0)]));
    assert_eq!(events, [(4400, Anger, Raised)]);
    assert!(p.is_active(Anger));
    assert_eq!(p.active_mask(), Anger.bit());
}

#[test]
fn the_raised_event_carries_smoothed_scores_and_the_face() {
    let mut p = policy();
    feed(&mut p, 0, 1000, neutral());
    let mut raised = Vec::new();
    let mut at_raise = None;
    for t in (1000..5000).step_by(STEP as usize) {
        let events = p.observe(t, with(&[(Emotion::Angry, 0.9)]));
        if !events.is_empty() {
            at_raise = p.smoothed();
        }
        raised.extend(events);
    }
    assert_eq!(raised.len(), 1);
    let e = &raised[0];
    assert_eq!(Some(e.scores), at_raise);
    assert_eq!(e.face, Some(FACE));
    assert!(e.scores.get(Emotion::Angry) > 0.6 && e.scores.get(Emotion::Angry) < 0.9);
}

#[test]
fn flicker_never_alerts() {
    let mut p = policy();
    let mut events = feed(&mut p, 0, 1000, neutral());
    let mut t = 1000;
    for _ in 0..20 {
        // 300 ms spikes of pure anger: the EMA peaks at 1 - e^-0.6 = 0.45 < 0.6.
        events.extend(feed(&mut p, t, t + 300, with(&[(Emotion::Angry, 1.0)])));
        events.extend(feed(&mut p, t + 300, t + 2000, neutral()));
        t += 2000;
    }
    // 1.5 s bursts: above 0.6 for about one second, less than the 2 s minimum.
    for _ in 0..10 {
        events.extend(feed(&mut p, t, t + 1500, with(&[(Emotion::Fear, 1.0)])));
        events.extend(feed(&mut p, t + 1500, t + 4000, neutral()));
        t += 4000;
    }
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn hysteresis_holds_between_thresholds_and_clears_below() {
    let mut p = policy();
    assert_eq!(
        feed(&mut p, 0, 5000, with(&[(Emotion::Angry, 1.0)])),
        [(2000, Anger, Raised)]
    );
    // 0.5 sits between clear (0.4) and raise (0.6): the alert neither clears nor toggles.
    assert!(feed(&mut p, 5000, 20_000, with(&[(Emotion::Angry, 0.5)])).is_empty());
    assert!(p.is_active(Anger));
    // Neutral from 20000: 0.5 e^-0.2 = 0.41 at 20000, 0.34 at 20100 (< 0.4), then 1000 ms.
    assert_eq!(feed(&mut p, 20_000, 25_000, neutral()), [(21_100, Anger, Cleared)]);
    assert_eq!(p.active_mask(), 0);
}

#[test]
fn a_short_dip_below_clear_does_not_clear() {
    let mut p = policy();
    feed(&mut p, 0, 5000, with(&[(Emotion::Angry, 1.0)]));
    // 500 ms of neutral: below 0.4 for about 300 ms, less than the 1000 ms clear time.
    assert!(feed(&mut p, 5000, 5500, neutral()).is_empty());
    assert!(feed(&mut p, 5500, 9000, with(&[(Emotion::Angry, 1.0)])).is_empty());
    assert!(p.is_active(Anger));
}

#[test]
fn cooldown_blocks_a_quick_relapse_then_allows_it() {
    let mut p = policy();
    let angry = with(&[(Emotion::Angry, 1.0)]);
    assert_eq!(feed(&mut p, 0, 3000, angry), [(2000, Anger, Raised)]);
    // Neutral from 3000: below 0.4 at 3400 (e^-1 = 0.37), cleared 1000 ms later.
    assert_eq!(feed(&mut p, 3000, 5000, neutral()), [(4400, Anger, Cleared)]);
    // Angry again at once: sustained from 5400 and long enough by 7400, but the
    // cool-down (10 s after 4400) holds it back until 14400.
    assert_eq!(feed(&mut p, 5000, 20_000, angry), [(14_400, Anger, Raised)]);
}

#[test]
fn distress_sums_sad_and_disgust() {
    let mut p = policy();
    // Neither 0.35 alone crosses a threshold; together 0.7 >= 0.6 for 3 s.
    let events = feed(&mut p, 0, 5000, with(&[(Emotion::Sad, 0.35), (Emotion::Bored, 0.35)]));
    assert_eq!(events, [(3000, Distress, Raised)]);
    assert!(!p.is_active(Anger) && !p.is_active(Fear));
}

#[test]
fn fear_has_its_own_thresholds() {
    let mut p = policy();
    // 0.55 clears fear's 0.5 but not anger's 0.6.
    let events = feed(&mut p, 0, 3000, with(&[(Emotion::Fear, 0.55), (Emotion::Angry, 0.45)]));
    assert_eq!(events, [(2000, Fear, Raised)]);
}

#[test]
fn face_lost_raises_after_the_delay_and_clears_when_the_face_is_back() {
    let mut p = policy();
    feed(&mut p, 0, 1000, with(&[(Emotion::Happy, 0.8)]));
    let held = p.smoothed();
    // Last face at 900: 3000 ms later is 3900.
    assert_eq!(
        feed(&mut p, 1000, 6000, Observation::NoFace),
        [(3900, FaceLost, Raised)]
    );
    // No-face frames are not "neutral": the smoothed state is exactly held.
    assert_eq!(p.smoothed(), held);
    assert_eq!(p.active_mask(), FaceLost.bit());
    // Face back at 6000: cleared once seen for 500 ms.
    assert_eq!(feed(&mut p, 6000, 7000, neutral()), [(6500, FaceLost, Cleared)]);
}

#[test]
fn face_lost_counts_from_start_up_and_ignores_flickering_returns() {
    let mut p = policy();
    assert_eq!(feed(&mut p, 0, 4000, Observation::NoFace), [(3000, FaceLost, Raised)]);
    let mut events = Vec::new();
    for t in (4000..10_000).step_by(STEP as usize) {
        // A face every third frame: never 500 ms in a row, so the alert stays.
        let obs = if (t / STEP).is_multiple_of(3) {
            neutral()
        } else {
            Observation::NoFace
        };
        events.extend(p.observe(t, obs));
    }
    assert!(events.is_empty(), "{events:?}");
    assert!(p.is_active(FaceLost));
}

#[test]
fn face_lost_has_a_cooldown() {
    let mut p = policy();
    feed(&mut p, 0, 3100, Observation::NoFace);
    assert_eq!(feed(&mut p, 3100, 3700, neutral()), [(3600, FaceLost, Cleared)]);
    // Lost again at once: 3000 ms after the last face (3600) is 6600, but the cool-down runs
    // until 8600.
    assert_eq!(
        feed(&mut p, 3700, 10_000, Observation::NoFace),
        [(8600, FaceLost, Raised)]
    );
}

#[test]
fn a_long_face_gap_restarts_the_onset_timer_and_a_short_one_is_bridged() {
    let angry = with(&[(Emotion::Angry, 1.0)]);
    // (The first sample initialises the EMA, so anger is sustained from 0.)
    // Bridged: a 300 ms gap, raised at 2000 as without the gap.
    let mut p = policy();
    feed(&mut p, 0, 1000, angry);
    feed(&mut p, 1000, 1300, Observation::NoFace);
    assert_eq!(feed(&mut p, 1300, 4000, angry), [(2000, Anger, Raised)]);
    // Reset: the same start, a 2000 ms gap: the timer restarts at the return (3000), and
    // the smoothed value is still above 0.6, so raised at 5000.
    let mut p = policy();
    feed(&mut p, 0, 1000, angry);
    feed(&mut p, 1000, 3000, Observation::NoFace);
    assert_eq!(feed(&mut p, 3000, 6000, angry), [(5000, Anger, Raised)]);
}

#[test]
fn scores_that_are_not_probabilities_are_not_evidence() {
    let mut p = policy();
    feed(&mut p, 0, 1000, neutral());
    let before = p.smoothed();
    let mut bad = scores(&[(Emotion::Angry, 1.0)]);
    bad.0[2] = f32::NAN;
    assert!(
        feed(
            &mut p,
            1000,
            6000,
            Observation::Face {
                scores: bad,
                face: FACE
            }
        )
        .is_empty()
    );
    assert_eq!(p.smoothed(), before);
}

#[test]
fn frames_without_evidence_do_not_bridge_a_gap_in_it() {
    // Anger for 1 s, then 9 s of face frames whose scores are NaN, then anger again: the
    // 2 s of sustained anger start again after the gap, not from the first stretch.
    let mut p = policy();
    let angry = with(&[(Emotion::Angry, 1.0)]);
    assert!(feed(&mut p, 0, 1000, angry).is_empty());
    let mut bad = scores(&[(Emotion::Angry, 1.0)]);
    bad.0[0] = f32::NAN;
    let bad = Observation::Face {
        scores: bad,
        face: FACE,
    };
    assert!(feed(&mut p, 1000, 10_000, bad).is_empty());
    assert_eq!(feed(&mut p, 10_000, 14_000, angry), [(12_000, Anger, Raised)]);
}

#[test]
fn disabled_rules_never_fire() {
    let mut config = PolicyConfig::default();
    config.anger.enabled = false;
    config.face_lost.enabled = false;
    let mut p = Policy::new(config).unwrap();
    assert!(feed(&mut p, 0, 5000, with(&[(Emotion::Angry, 1.0)])).is_empty());
    assert!(feed(&mut p, 5000, 20_000, Observation::NoFace).is_empty());
}

#[test]
fn invalid_thresholds_name_the_key() {
    let mut config = PolicyConfig::default();
    config.fear.clear = 0.5;
    let err = Policy::new(config).unwrap_err();
    assert_eq!(err.key, "fear.clear");
    config = PolicyConfig::default();
    config.distress.raise = f32::NAN;
    assert_eq!(Policy::new(config).unwrap_err().key, "distress.raise");
    config = PolicyConfig::default();
    config.anger.raise = 1.5;
    assert_eq!(config.validate().unwrap_err().key, "anger.raise");
}

#[test]
fn timestamps_are_milliseconds_of_the_frame_clock_not_frame_counts() {
    // The same 4 s of anger at 30 fps raises at (nearly) the same time as at 10 fps.
    let mut p = policy();
    let mut raised = None;
    let mut t = 0u64;
    while t < 5000 {
        for e in p.observe(t, with(&[(Emotion::Angry, 1.0)])) {
            raised.get_or_insert(e.timestamp_ms);
        }
        t += 33;
    }
    let raised = raised.expect("raised");
    assert!((2000..=2100).contains(&raised), "{raised}");
}

#[test]
fn frames_that_cannot_be_decided_raise_the_fault_and_decisions_clear_it() {
    let mut p = policy();
    assert!(feed(&mut p, 0, 1000, neutral()).is_empty());
    // Last decision at 900; undecided frames from 1000: fault at 900 + 3000.
    let events = feed(&mut p, 1000, 6000, Observation::Dropped);
    assert_eq!(events, [(3900, Fault, Raised)]);
    assert_eq!(p.fault(), Some(FaultCause::NoDecisions));
    assert_eq!(p.active_mask(), Fault.bit());
    // Decisions again from 6000: cleared after 1000 ms of them.
    let events = feed(&mut p, 6000, 8000, neutral());
    assert_eq!(events, [(7000, Fault, Cleared)]);
    assert_eq!(p.fault(), None);
}

#[test]
fn a_source_without_frames_is_a_no_frames_fault_and_face_lost_waits_for_decisions() {
    let mut p = policy();
    assert!(feed(&mut p, 0, 500, neutral()).is_empty());
    let events = feed(&mut p, 500, 10_000, Observation::NoFrame);
    assert_eq!(events, [(3400, Fault, Raised)], "no face-lost without decisions");
    assert_eq!(p.fault(), Some(FaultCause::NoFrames));
    // The first decision after the outage has no face: face-lost is judged now, on the
    // time since the last face.
    let events = feed(&mut p, 10_000, 10_100, Observation::NoFace);
    assert_eq!(events, [(10_000, FaceLost, Raised)]);
}

#[test]
fn failing_outputs_raise_the_fault_even_while_deciding() {
    let mut p = policy();
    let mut events = Vec::new();
    for t in (0..6000).step_by(STEP as usize) {
        events.extend(
            p.observe(t, neutral())
                .into_iter()
                .map(|e| (e.timestamp_ms, e.kind, e.phase)),
        );
        p.outputs(t, !(1000..4500).contains(&t));
    }
    // Failing from 1000: raised at the first turn 3000 ms later; outputs work again from
    // 4500, cleared 1000 ms after the first healthy turn.
    assert_eq!(events, [(4000, Fault, Raised), (5600, Fault, Cleared)]);
}

#[test]
fn the_fault_cannot_be_disabled() {
    for raise_after_ms in [0, MAX_FAULT_MS + 1, u32::MAX] {
        let mut config = PolicyConfig::default();
        config.fault.raise_after_ms = raise_after_ms;
        assert_eq!(Policy::new(config).unwrap_err().key, "fault.raise_after_ms");
    }
    let mut config = PolicyConfig::default();
    config.fault.clear_after_ms = MAX_FAULT_MS + 1;
    assert_eq!(Policy::new(config).unwrap_err().key, "fault.clear_after_ms");
    config.fault.raise_after_ms = MAX_FAULT_MS;
    config.fault.clear_after_ms = MAX_FAULT_MS;
    assert!(Policy::new(config).is_ok());
}

#[test]
fn the_fault_cause_follows_what_is_wrong_now() {
    let mut p = policy();
    assert!(feed(&mut p, 0, 1000, neutral()).is_empty());
    // Garbage frames until 1400, then the camera is gone: raised at 3900 (last decision
    // 900) while frames came 2.5 s ago, then no frames for 3 s from 4400.
    assert!(feed(&mut p, 1000, 1500, Observation::Dropped).is_empty());
    assert_eq!(feed(&mut p, 1500, 4000, Observation::NoFrame), [(3900, Fault, Raised)]);
    assert_eq!(p.fault(), Some(FaultCause::NoDecisions));
    assert!(feed(&mut p, 4000, 6000, Observation::NoFrame).is_empty());
    assert_eq!(p.fault(), Some(FaultCause::NoFrames));
    // It comes back at another size: frames, but none decided.
    assert!(feed(&mut p, 6000, 7000, Observation::Dropped).is_empty());
    assert_eq!(p.fault(), Some(FaultCause::NoDecisions));
    // Decisions again, but an output has failed for 3 s: still raised, for the outputs.
    let mut events = Vec::new();
    let mut causes = Vec::new();
    for t in (7000..12_000).step_by(STEP as usize) {
        events.extend(
            p.observe(t, neutral())
                .into_iter()
                .map(|e| (e.timestamp_ms, e.kind, e.phase)),
        );
        p.outputs(t, t >= 10_500);
        causes.push((t, p.fault()));
    }
    assert!(causes.contains(&(9900, Some(FaultCause::NoDecisions))), "{causes:?}");
    assert!(causes.contains(&(10_000, Some(FaultCause::Outputs))), "{causes:?}");
    // Outputs working from 10500: cleared 1000 ms after the first healthy decided turn.
    assert_eq!(events, [(11_600, Fault, Cleared)]);
}

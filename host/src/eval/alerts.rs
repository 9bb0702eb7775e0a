//! What the alert policy's thresholds do with a model's scores on held-out faces: for each
//! emotion alert, the share of each true class's faces that would raise it if the driver held
//! that face. A held face gives constant scores, so the smoothed scores equal them and the
//! alert raises, once its onset time has passed, exactly when its signal is at or above its
//! raise threshold ([`shared::policy::signal`]); a test below checks this against the policy
//! itself. Faces of the classes an alert watches give its hit rate, the others its false
//! alarms per held face: the figure that says whether the loop warns on noise. It does not say
//! how long expressions last on the road, which decides how often a real drive raises one.

use std::fmt::Write as _;

use shared::policy::{EMOTION_ALERTS, PolicyConfig, signal};
use shared::wire::{AlertKind, EmotionScores};
use shared::{Emotion, NUM_CLASSES};

/// Faces that would raise one alert, by true class.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldFaceRates {
    /// The alert.
    pub kind: AlertKind,
    /// Its raise threshold.
    pub raise: f32,
    /// Faces whose signal is at or above `raise`, by true class ([`Emotion::ALL`] order).
    pub raised: [usize; NUM_CLASSES],
    /// Faces, by true class.
    pub faces: [usize; NUM_CLASSES],
}

/// Whether the emotion alert `kind` watches `class`: the class's probability is part of the
/// value it thresholds.
pub fn watches(kind: AlertKind, class: Emotion) -> bool {
    let mut one_hot = [0.0; NUM_CLASSES];
    one_hot[class.index()] = 1.0;
    signal(kind, &EmotionScores(one_hot)).is_some_and(|v| v > 0.0)
}

impl HeldFaceRates {
    /// Counts the faces (`scores[i]` of a face whose true class is `labels[i]`) that raise
    /// `kind` at the threshold `raise`.
    pub fn count(scores: &[[f32; NUM_CLASSES]], labels: &[Emotion], kind: AlertKind, raise: f32) -> Self {
        let mut rates = HeldFaceRates {
            kind,
            raise,
            raised: [0; NUM_CLASSES],
            faces: [0; NUM_CLASSES],
        };
        for (s, label) in scores.iter().zip(labels) {
            let c = label.index();
            rates.faces[c] += 1;
            if signal(kind, &EmotionScores(*s)).is_some_and(|v| v >= raise) {
                rates.raised[c] += 1;
            }
        }
        rates
    }

    /// Raised and faces summed over the classes for which `pick` holds.
    fn sum(&self, pick: impl Fn(Emotion) -> bool) -> (usize, usize) {
        Emotion::ALL.iter().filter(|&&e| pick(e)).fold((0, 0), |(r, f), e| {
            (r + self.raised[e.index()], f + self.faces[e.index()])
        })
    }

    /// Percent of the watched classes' faces that raise the alert; `None` without such faces.
    pub fn hit_percent(&self) -> Option<f64> {
        percent(self.sum(|e| watches(self.kind, e)))
    }

    /// Percent of the other classes' faces that raise the alert; `None` without such faces.
    pub fn false_percent(&self) -> Option<f64> {
        percent(self.sum(|e| !watches(self.kind, e)))
    }
}

fn percent((part, whole): (usize, usize)) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

/// Each emotion alert's held-face rates at the thresholds of `config`.
pub fn held_face_rates(scores: &[[f32; NUM_CLASSES]], labels: &[Emotion], config: &PolicyConfig) -> Vec<HeldFaceRates> {
    EMOTION_ALERTS
        .iter()
        .filter_map(|&kind| {
            let rule = config.emotion_rule(kind)?;
            Some(HeldFaceRates::count(scores, labels, kind, rule.raise))
        })
        .collect()
}

/// An alert's rates at one raise threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepPoint {
    /// The raise threshold.
    pub threshold: f32,
    /// [`HeldFaceRates::hit_percent`] at it.
    pub hit: Option<f64>,
    /// [`HeldFaceRates::false_percent`] at it.
    pub false_alarm: Option<f64>,
}

/// The rates of `kind` at each raise threshold of `thresholds`, for the plot of how the choice
/// of threshold trades hits for false alarms.
pub fn sweep(
    scores: &[[f32; NUM_CLASSES]],
    labels: &[Emotion],
    kind: AlertKind,
    thresholds: impl IntoIterator<Item = f32>,
) -> Vec<SweepPoint> {
    thresholds
        .into_iter()
        .map(|threshold| {
            let rates = HeldFaceRates::count(scores, labels, kind, threshold);
            SweepPoint {
                threshold,
                hit: rates.hit_percent(),
                false_alarm: rates.false_percent(),
            }
        })
        .collect()
}

/// A Markdown table: one row per true class (faces of it that raise each alert), then each
/// alert's hit and false rates.
pub fn table(rates: &[HeldFaceRates]) -> String {
    let cell = |p: Option<f64>, n: usize| match p {
        Some(p) => format!("{p:.1}% ({n})"),
        None => "-".into(),
    };
    let mut s = String::from("| true class | faces |");
    for r in rates {
        let _ = write!(s, " {} >= {} |", r.kind.name(), r.raise);
    }
    s.push_str("\n|---|---:|");
    s.push_str(&"---:|".repeat(rates.len()));
    let faces = rates.first().map_or([0; NUM_CLASSES], |r| r.faces);
    for e in Emotion::ALL {
        let c = e.index();
        if faces[c] == 0 {
            continue;
        }
        let _ = write!(s, "\n| {} | {} |", e.name(), faces[c]);
        for r in rates {
            let mark = if watches(r.kind, e) { "**" } else { "" };
            let _ = write!(
                s,
                " {mark}{}{mark} |",
                cell(percent((r.raised[c], r.faces[c])), r.raised[c])
            );
        }
    }
    for (name, pick) in [
        ("hit rate (the watched classes, in bold)", true),
        ("false alarms (every other class)", false),
    ] {
        let _ = write!(s, "\n| {name} | |");
        for r in rates {
            let (raised, n) = r.sum(|e| watches(r.kind, e) == pick);
            let _ = write!(s, " {} |", cell(percent((raised, n)), raised));
        }
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use shared::FaceBox;
    use shared::policy::{Observation, Policy};
    use shared::wire::AlertPhase;

    use super::*;

    const ANGRY_ISH: [f32; NUM_CLASSES] = [0.61, 0.0, 0.0, 0.0, 0.39, 0.0, 0.0];
    const DISTRESSED: [f32; NUM_CLASSES] = [0.0, 0.36, 0.0, 0.0, 0.39, 0.25, 0.0];
    const CALM: [f32; NUM_CLASSES] = [0.59, 0.0, 0.0, 0.0, 0.41, 0.0, 0.0];

    /// The alerts the policy raises for a face held for 10 s at 10 frames a second.
    fn raised_by_the_policy(scores: [f32; NUM_CLASSES], config: PolicyConfig) -> Vec<AlertKind> {
        let mut policy = Policy::new(config).unwrap();
        let face = FaceBox {
            x: 0,
            y: 0,
            w: 48,
            h: 48,
        };
        let mut raised = Vec::new();
        for t in (0..10_000).step_by(100) {
            let observation = Observation::Face {
                scores: EmotionScores(scores),
                face,
            };
            for event in policy.observe(t, observation) {
                if event.phase == AlertPhase::Raised {
                    raised.push(event.kind);
                }
            }
        }
        raised
    }

    #[test]
    fn a_held_face_raises_what_the_policy_raises() {
        let config = PolicyConfig::default();
        for (scores, want) in [
            (ANGRY_ISH, &[AlertKind::Anger][..]),
            (DISTRESSED, &[AlertKind::Distress]),
            (CALM, &[]),
        ] {
            let rates = held_face_rates(&[scores], &[Emotion::Neutral], &config);
            let counted: Vec<AlertKind> = rates
                .iter()
                .filter(|r| r.raised[Emotion::Neutral.index()] == 1)
                .map(|r| r.kind)
                .collect();
            assert_eq!(counted, want, "{scores:?}");
            assert_eq!(raised_by_the_policy(scores, config), want, "{scores:?}");
        }
    }

    #[test]
    fn watched_classes_give_hits_and_the_others_false_alarms() {
        assert!(watches(AlertKind::Anger, Emotion::Angry) && !watches(AlertKind::Anger, Emotion::Neutral));
        assert!(watches(AlertKind::Distress, Emotion::Sad) && watches(AlertKind::Distress, Emotion::Bored));
        assert!(!watches(AlertKind::FaceLost, Emotion::Neutral));
        let scores = [ANGRY_ISH, CALM, ANGRY_ISH, CALM];
        let labels = [Emotion::Angry, Emotion::Angry, Emotion::Neutral, Emotion::Happy];
        let anger = HeldFaceRates::count(&scores, &labels, AlertKind::Anger, 0.6);
        assert_eq!(anger.hit_percent(), Some(50.0));
        assert_eq!(anger.false_percent(), Some(50.0));
        let text = table(&[anger]);
        assert!(text.contains("| angry | 2 | **50.0% (1)** |"), "{text}");
        assert!(text.contains("| neutral | 1 | 100.0% (1) |"), "{text}");
        assert!(!text.contains("| fear |"), "classes without faces are left out: {text}");
        let curve: Vec<_> = sweep(&scores, &labels, AlertKind::Anger, [0.0, 0.6, 0.7])
            .iter()
            .map(|p| (p.threshold, p.hit, p.false_alarm))
            .collect();
        assert_eq!(
            curve,
            [
                (0.0, Some(100.0), Some(100.0)),
                (0.6, Some(50.0), Some(50.0)),
                (0.7, Some(0.0), Some(0.0))
            ]
        );
    }
}

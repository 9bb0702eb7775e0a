//! The paper's seven emotion classes and the mappings from each dataset's own labels.
//!
//! The order is the paper's (Tables 3-7): angry, bored, fear, happy, neutral, sad, surprised.
//! "bored" is the paper's translation of *disgust*, the label every dataset actually uses, so
//! the machine name is `bored` (to match the paper's tables) and the display name says both.
//! CK+'s *contempt* has no slot: [`ContemptPolicy`] says whether to drop it (default) or fold
//! it into disgust.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the seven classes, in the paper's order; `as usize` is the network's output index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Emotion {
    /// Anger.
    Angry = 0,
    /// The paper's "bored": the datasets' *disgust*.
    Bored = 1,
    /// Fear.
    Fear = 2,
    /// Happiness.
    Happy = 3,
    /// No expression.
    Neutral = 4,
    /// Sadness.
    Sad = 5,
    /// Surprise.
    Surprised = 6,
}

/// Errors from label parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// A label string that no mapping knows.
    #[error("unknown label {0:?}")]
    Unknown(alloc::string::String),
    /// A numeric label outside the dataset's range.
    #[error("label index {0} out of range")]
    OutOfRange(i64),
}

/// What to do with CK+'s *contempt*, which the paper's label set lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ContemptPolicy {
    /// Leave contempt images out (the paper's seven classes have no slot for it).
    #[default]
    Drop,
    /// Count contempt as disgust ("bored").
    FoldIntoDisgust,
}

impl Emotion {
    /// All classes in output-index order.
    pub const ALL: [Emotion; 7] = [
        Emotion::Angry,
        Emotion::Bored,
        Emotion::Fear,
        Emotion::Happy,
        Emotion::Neutral,
        Emotion::Sad,
        Emotion::Surprised,
    ];

    /// The network output index of this class.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The class at a network output index.
    pub fn from_index(index: usize) -> Option<Emotion> {
        Self::ALL.get(index).copied()
    }

    /// Stable machine name used in files, JSON and manifests.
    pub const fn name(self) -> &'static str {
        match self {
            Emotion::Angry => "angry",
            Emotion::Bored => "bored",
            Emotion::Fear => "fear",
            Emotion::Happy => "happy",
            Emotion::Neutral => "neutral",
            Emotion::Sad => "sad",
            Emotion::Surprised => "surprised",
        }
    }

    /// CK+ folder names (`anger`, `contempt`, `disgust`, ...). `Ok(None)` means "drop this image".
    pub fn from_ckplus(label: &str, contempt: ContemptPolicy) -> Result<Option<Emotion>, LabelError> {
        Ok(Some(match label.to_ascii_lowercase().as_str() {
            "anger" | "angry" => Emotion::Angry,
            "disgust" => Emotion::Bored,
            "fear" => Emotion::Fear,
            "happy" | "happiness" => Emotion::Happy,
            "neutral" => Emotion::Neutral,
            "sadness" | "sad" => Emotion::Sad,
            "surprise" => Emotion::Surprised,
            "contempt" => match contempt {
                ContemptPolicy::Drop => return Ok(None),
                ContemptPolicy::FoldIntoDisgust => Emotion::Bored,
            },
            _ => return Err(LabelError::Unknown(label.into())),
        }))
    }

    /// JAFFE two-letter codes from file names such as `KA.AN1.39.tiff`.
    pub fn from_jaffe_code(code: &str) -> Result<Emotion, LabelError> {
        match code.get(..2).unwrap_or(code) {
            "AN" => Ok(Emotion::Angry),
            "DI" => Ok(Emotion::Bored),
            "FE" => Ok(Emotion::Fear),
            "HA" => Ok(Emotion::Happy),
            "NE" => Ok(Emotion::Neutral),
            "SA" => Ok(Emotion::Sad),
            "SU" => Ok(Emotion::Surprised),
            _ => Err(LabelError::Unknown(code.into())),
        }
    }

    /// FER2013 class-folder names (`angry`, `disgust`, ..., `surprise`).
    pub fn from_fer2013_folder(name: &str) -> Result<Emotion, LabelError> {
        match name.to_ascii_lowercase().as_str() {
            "angry" => Ok(Emotion::Angry),
            "disgust" => Ok(Emotion::Bored),
            "fear" => Ok(Emotion::Fear),
            "happy" => Ok(Emotion::Happy),
            "neutral" => Ok(Emotion::Neutral),
            "sad" => Ok(Emotion::Sad),
            "surprise" => Ok(Emotion::Surprised),
            _ => Err(LabelError::Unknown(name.into())),
        }
    }

    /// FER2013 `fer2013.csv` emotion column: 0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad,
    /// 5 Surprise, 6 Neutral.
    pub fn from_fer2013_index(index: i64) -> Result<Emotion, LabelError> {
        Ok(match index {
            0 => Emotion::Angry,
            1 => Emotion::Bored,
            2 => Emotion::Fear,
            3 => Emotion::Happy,
            4 => Emotion::Sad,
            5 => Emotion::Surprised,
            6 => Emotion::Neutral,
            _ => return Err(LabelError::OutOfRange(index)),
        })
    }

    /// RAF-DB basic labels 1..7: 1 Surprise, 2 Fear, 3 Disgust, 4 Happiness, 5 Sadness,
    /// 6 Anger, 7 Neutral.
    pub fn from_rafdb_index(index: i64) -> Result<Emotion, LabelError> {
        Ok(match index {
            1 => Emotion::Surprised,
            2 => Emotion::Fear,
            3 => Emotion::Bored,
            4 => Emotion::Happy,
            5 => Emotion::Sad,
            6 => Emotion::Angry,
            7 => Emotion::Neutral,
            _ => return Err(LabelError::OutOfRange(index)),
        })
    }
}

/// The ten vote columns of FER+'s `label.csv`, in file order.
pub const FERPLUS_COLUMNS: [&str; 10] = [
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
];

/// FER+ annotator votes of one face, in [`FERPLUS_COLUMNS`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FerPlusVotes(pub [u8; 10]);

impl FerPlusVotes {
    /// The paper's class of a FER+ vote column; `None` for contempt, unknown and NF (not a
    /// face), which have no slot.
    pub const fn column_emotion(column: usize) -> Option<Emotion> {
        match column {
            0 => Some(Emotion::Neutral),
            1 => Some(Emotion::Happy),
            2 => Some(Emotion::Surprised),
            3 => Some(Emotion::Sad),
            4 => Some(Emotion::Angry),
            5 => Some(Emotion::Bored),
            6 => Some(Emotion::Fear),
            _ => None,
        }
    }

    /// FER+'s "majority" label: the most-voted of all ten columns, or `None` when that is
    /// contempt, unknown or NF, when two columns tie for the most votes, or with no votes.
    pub fn majority(&self) -> Option<Emotion> {
        let max = *self.0.iter().max()?;
        if max == 0 || self.0.iter().filter(|&&v| v == max).count() > 1 {
            return None;
        }
        let column = self.0.iter().position(|&v| v == max)?;
        Self::column_emotion(column)
    }

    /// The votes for the seven classes, in [`Emotion::ALL`] order (contempt, unknown and NF
    /// are left out).
    pub fn emotion_votes(&self) -> [u8; 7] {
        let mut out = [0; 7];
        for (column, &v) in self.0.iter().enumerate() {
            if let Some(e) = Self::column_emotion(column) {
                out[e.index()] = v;
            }
        }
        out
    }
}

/// The class probabilities of a classifier's `logits` at temperature `t`: `softmax(logits / t)`.
/// These are the scores the alert policy thresholds, so training (calibration), export and the
/// edge all compute them here; a model's manifest carries the `t` fitted on validation data.
/// Numerically stable for any finite logits; a `t` that is not finite and positive counts as 1.
pub fn softmax_at(logits: &[f32; crate::NUM_CLASSES], t: f32) -> [f32; crate::NUM_CLASSES] {
    let t = if t.is_finite() && t > 0.0 { t } else { 1.0 };
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut out = logits.map(|v| libm::expf((v - max) / t));
    let sum: f32 = out.iter().sum();
    out.iter_mut().for_each(|v| *v /= sum);
    out
}

impl fmt::Display for Emotion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Emotion {
    type Err = LabelError;

    /// Parses a machine name; also accepts `disgust` for [`Emotion::Bored`] and `surprise`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "disgust" => Ok(Emotion::Bored),
            "surprise" => Ok(Emotion::Surprised),
            lower => Emotion::ALL
                .into_iter()
                .find(|e| e.name() == lower)
                .ok_or_else(|| LabelError::Unknown(s.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_matches_the_paper() {
        let names: alloc::vec::Vec<_> = Emotion::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(
            names,
            ["angry", "bored", "fear", "happy", "neutral", "sad", "surprised"]
        );
        for (i, e) in Emotion::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert_eq!(Emotion::from_index(i), Some(*e));
        }
        assert_eq!(Emotion::from_index(7), None);
    }

    #[test]
    fn softmax_sums_to_one_keeps_order_and_survives_extreme_logits() {
        let p = softmax_at(&[1000.0, 999.0, 0.0, 0.0, 0.0, 0.0, -1000.0], 1.0);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[0] > p[1] && p[1] > p[2] && p[6] == 0.0);
    }

    #[test]
    fn a_temperature_above_one_softens_scores_without_changing_the_winner() {
        let logits = [4.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let sharp = softmax_at(&logits, 1.0);
        let soft = softmax_at(&logits, 2.0);
        assert!(soft[0] < sharp[0] && soft[0] > soft[1]);
        assert_eq!(softmax_at(&logits.map(|v| v / 2.0), 1.0), soft);
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert_eq!(softmax_at(&logits, bad), sharp, "t = {bad}");
        }
    }

    #[test]
    fn names_round_trip_and_disgust_is_bored() {
        for e in Emotion::ALL {
            assert_eq!(e.name().parse::<Emotion>(), Ok(e));
        }
        assert_eq!("Disgust".parse::<Emotion>(), Ok(Emotion::Bored));
        assert!("contempt".parse::<Emotion>().is_err());
    }

    #[test]
    fn contempt_is_explicit() {
        assert_eq!(Emotion::from_ckplus("contempt", ContemptPolicy::Drop), Ok(None));
        assert_eq!(
            Emotion::from_ckplus("contempt", ContemptPolicy::FoldIntoDisgust),
            Ok(Some(Emotion::Bored))
        );
        assert_eq!(
            Emotion::from_ckplus("sadness", ContemptPolicy::Drop),
            Ok(Some(Emotion::Sad))
        );
        assert!(Emotion::from_ckplus("joy", ContemptPolicy::Drop).is_err());
    }

    #[test]
    fn ferplus_majority_drops_ties_and_non_emotions() {
        // neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF
        let v = FerPlusVotes([4, 0, 0, 1, 3, 2, 0, 0, 0, 0]);
        assert_eq!(v.majority(), Some(Emotion::Neutral));
        assert_eq!(v.emotion_votes(), [3, 2, 0, 0, 4, 1, 0]);
        assert_eq!(FerPlusVotes([3, 3, 0, 0, 0, 0, 0, 0, 4, 0]).majority(), None);
        assert_eq!(FerPlusVotes([4, 4, 0, 0, 0, 0, 0, 2, 0, 0]).majority(), None);
        assert_eq!(FerPlusVotes([1, 0, 0, 0, 0, 0, 0, 5, 0, 0]).majority(), None);
        assert_eq!(FerPlusVotes([0; 10]).majority(), None);
        assert_eq!(
            FerPlusVotes([0, 0, 0, 0, 0, 0, 7, 0, 0, 3]).majority(),
            Some(Emotion::Fear)
        );
        assert_eq!(FerPlusVotes::column_emotion(5), Some(Emotion::Bored));
        assert_eq!(FERPLUS_COLUMNS[9], "NF");
    }

    #[test]
    fn dataset_codes() {
        assert_eq!(Emotion::from_jaffe_code("DI1"), Ok(Emotion::Bored));
        assert_eq!(Emotion::from_jaffe_code("SU3"), Ok(Emotion::Surprised));
        assert!(Emotion::from_jaffe_code("XX1").is_err());
        assert_eq!(Emotion::from_fer2013_index(6), Ok(Emotion::Neutral));
        assert_eq!(Emotion::from_fer2013_index(4), Ok(Emotion::Sad));
        assert_eq!(Emotion::from_fer2013_index(7), Err(LabelError::OutOfRange(7)));
        assert_eq!(Emotion::from_rafdb_index(1), Ok(Emotion::Surprised));
        assert_eq!(Emotion::from_rafdb_index(6), Ok(Emotion::Angry));
        assert!(Emotion::from_rafdb_index(0).is_err());
        assert_eq!(Emotion::from_fer2013_folder("surprise"), Ok(Emotion::Surprised));
    }
}

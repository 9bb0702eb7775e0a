//! One JSON object per alert, one per line, for scripts and dashboards reading stdout:
//!
//! ```json
//! {"t_ms":4400,"alert":"anger","phase":"raised","top":"angry","scores":{"angry":0.63,...},"face":{"x":56,"y":71,"w":147,"h":147}}
//! ```
//!
//! Only alerts go to stdout (logs go to stderr), so `edge run | jq` works.

use std::io::Write;

use serde::Serialize;
use shared::Emotion;
use shared::FaceBox;
use shared::wire::{AlertEvent, AlertPhase};

use super::{OutputError, Sink};

#[derive(Serialize)]
struct JsonFace {
    x: i32,
    y: i32,
    w: u32,
    h: u32,
}

#[derive(Serialize)]
struct JsonAlert<'a> {
    t_ms: u64,
    alert: &'a str,
    phase: &'a str,
    /// The most probable class; null before any face was classified.
    top: Option<&'a str>,
    scores: serde_json::Map<String, serde_json::Value>,
    face: Option<JsonFace>,
}

/// The JSON line for one alert (without the newline).
pub fn alert_json(event: &AlertEvent) -> String {
    let scores = Emotion::ALL
        .iter()
        .map(|&e| {
            let v = serde_json::Number::from_f64(event.scores.get(e) as f64)
                .map_or(serde_json::Value::Null, serde_json::Value::Number);
            (e.name().to_string(), v)
        })
        .collect();
    let line = JsonAlert {
        t_ms: event.timestamp_ms,
        alert: event.kind.name(),
        phase: match event.phase {
            AlertPhase::Raised => "raised",
            AlertPhase::Cleared => "cleared",
        },
        top: (event.scores.0.iter().sum::<f32>() > 0.0).then(|| event.scores.top().name()),
        scores,
        face: event.face.map(|FaceBox { x, y, w, h }| JsonFace { x, y, w, h }),
    };
    serde_json::to_string(&line).expect("plain data serialises")
}

/// Writes alert JSON lines to `W` (stdout in the binary).
pub struct JsonLines<W> {
    writer: W,
    failing: bool,
}

impl<W: Write> JsonLines<W> {
    /// Lines go to `writer`.
    pub fn new(writer: W) -> Self {
        JsonLines { writer, failing: false }
    }
}

impl<W: Write> Sink for JsonLines<W> {
    fn alert(&mut self, event: &AlertEvent, _active_mask: u8) -> Result<(), OutputError> {
        let written = writeln!(self.writer, "{}", alert_json(event)).and_then(|()| self.writer.flush());
        self.failing = written.is_err();
        written.map_err(|source| OutputError::Io { sink: "json", source })
    }

    fn healthy(&self) -> bool {
        !self.failing
    }
}

#[cfg(test)]
mod tests {
    use shared::wire::{AlertKind, EmotionScores};

    use super::*;

    #[test]
    fn one_line_with_names() {
        let e = AlertEvent {
            timestamp_ms: 4400,
            kind: AlertKind::Distress,
            phase: AlertPhase::Cleared,
            scores: EmotionScores([0.0, 0.25, 0.0, 0.0, 0.25, 0.5, 0.0]),
            face: None,
        };
        let v: serde_json::Value = serde_json::from_str(&alert_json(&e)).unwrap();
        assert_eq!(v["t_ms"], 4400);
        assert_eq!(v["alert"], "distress");
        assert_eq!(v["phase"], "cleared");
        assert_eq!(v["top"], "sad");
        assert_eq!(v["scores"]["bored"], 0.25);
        assert!(v["face"].is_null());
        let mut out = Vec::new();
        JsonLines::new(&mut out).alert(&e, 0).unwrap();
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    }
}

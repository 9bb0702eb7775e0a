//! One JSON object per alert, one per line, for scripts and dashboards reading stdout:
//!
//! ```json
//! {"t_ms":4400,"alert":"anger","phase":"raised","top":"angry","scores":{"angry":0.63,...},"face":{"x":56,"y":71,"w":147,"h":147}}
//! ```
//!
//! Only alerts go to stdout (logs go to stderr), so `edge run | jq` works. A line that
//! cannot be written is kept and written later, so once stdout works again nothing is
//! missing (see [`JsonLines`]). Writes here block while the writer blocks; `edge run` puts
//! the sink on its own thread ([`super::Detached`]) because stdout can.

use std::collections::VecDeque;
use std::io::{self, Write};

use serde::Serialize;
use shared::Emotion;
use shared::FaceBox;
use shared::wire::{AlertEvent, AlertPhase};

use super::{OutputError, Sink, Tick};
use crate::source::retry::Backoff;

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

/// Alert lines kept while the writer fails; beyond it the oldest are dropped (and counted).
pub const PENDING_LINES: usize = 256;

/// Writes alert JSON lines to `W` (stdout in the binary).
///
/// Rules: a line whose write fails is kept, in order, and written again before any newer one,
/// on the next alert or on a loop turn once the back-off has passed, so once the writer works
/// again (stdout redirected to a disk that was full and was freed) it has every alert, and the
/// sink turns healthy without waiting for a new alert. After a failure the next write starts with
/// a newline, which ends any line the failed write cut short (a blank line to a reader). At
/// most [`PENDING_LINES`] wait; lines still waiting when the sink is dropped are logged.
pub struct JsonLines<W: Write> {
    writer: W,
    /// Lines not yet written whole, oldest first.
    pending: VecDeque<String>,
    backoff: Backoff,
    /// Loop time of the next retry while lines wait.
    retry_at: u64,
    /// Lines dropped because [`PENDING_LINES`] were waiting.
    dropped: u64,
}

impl<W: Write> JsonLines<W> {
    /// Lines go to `writer`; after a failure they are retried on the loop's turns, waiting
    /// `backoff` between failed retries.
    pub fn new(writer: W, backoff: Backoff) -> Self {
        JsonLines {
            writer,
            pending: VecDeque::new(),
            backoff,
            retry_at: 0,
            dropped: 0,
        }
    }

    /// Writes the waiting lines, oldest first, each flushed; stops at the first failure.
    /// `after_failure`: lines were waiting before this attempt, so the last write failed and
    /// may have stopped part-way through a line.
    fn write_pending(&mut self, t_ms: u64, after_failure: bool) -> Result<(), OutputError> {
        let written = self.try_write_pending(after_failure);
        match written {
            Ok(()) => self.backoff.reset(),
            Err(_) => self.retry_at = t_ms.saturating_add(self.backoff.next_delay().as_millis() as u64),
        }
        written.map_err(|source| OutputError::Io { sink: "json", source })
    }

    fn try_write_pending(&mut self, after_failure: bool) -> io::Result<()> {
        if after_failure {
            self.writer.write_all(b"\n")?;
        }
        while let Some(line) = self.pending.front() {
            self.writer.write_all(line.as_bytes())?;
            self.writer.write_all(b"\n")?;
            self.writer.flush()?;
            self.pending.pop_front();
        }
        Ok(())
    }
}

impl<W: Write> Sink for JsonLines<W> {
    fn alert(&mut self, event: &AlertEvent, _active_mask: u8) -> Result<(), OutputError> {
        if self.pending.len() == PENDING_LINES {
            self.pending.pop_front();
            self.dropped += 1;
            tracing::warn!(
                dropped_total = self.dropped,
                "stdout keeps failing: oldest alert line dropped"
            );
        }
        let after_failure = !self.pending.is_empty();
        self.pending.push_back(alert_json(event));
        self.write_pending(event.timestamp_ms, after_failure)
    }

    fn tick(&mut self, tick: &Tick) -> Result<(), OutputError> {
        if self.pending.is_empty() || tick.t_ms < self.retry_at {
            return Ok(());
        }
        self.write_pending(tick.t_ms, true)
    }

    /// Healthy while no line waits: a failed write leaves its line waiting.
    fn healthy(&self) -> bool {
        self.pending.is_empty()
    }
}

impl<W: Write> Drop for JsonLines<W> {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            tracing::warn!(lines = self.pending.len(), "alert lines never written to stdout");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use shared::wire::{AlertKind, EmotionScores};

    use super::*;
    use crate::output::testing::{Line, alert, stamps};

    fn backoff() -> Backoff {
        Backoff::new(Duration::from_millis(100), Duration::from_millis(1000))
    }

    fn tick(sink: &mut JsonLines<Line>, t_ms: u64) -> Result<(), OutputError> {
        sink.tick(&Tick {
            t_ms,
            decided: true,
            active_mask: 0,
        })
    }

    #[test]
    fn a_failed_line_is_written_on_a_later_turn_and_the_sink_recovers_without_a_new_alert() {
        let line = Line::default();
        let mut sink = JsonLines::new(line.clone(), backoff());
        sink.alert(&alert(10), 1).unwrap();
        *line.down.lock().unwrap() = true;
        assert!(sink.alert(&alert(20), 1).is_err());
        assert!(sink.alert(&alert(30), 1).is_err());
        assert!(!sink.healthy());

        // Every failed attempt doubles the wait (100 ms at 20, 200 ms at 30, then 400 ms),
        // on the loop's clock.
        tick(&mut sink, 229).unwrap();
        assert!(tick(&mut sink, 230).is_err(), "retried at 30 + 200");
        tick(&mut sink, 629).unwrap();
        *line.down.lock().unwrap() = false;
        tick(&mut sink, 629).unwrap();
        assert!(!sink.healthy(), "not retried before 230 + 400");
        tick(&mut sink, 630).unwrap();
        assert!(sink.healthy());
        assert_eq!(
            stamps(&line.bytes.lock().unwrap()),
            [10, 20, 30],
            "nothing lost, nothing repeated, in order"
        );
        tick(&mut sink, 10_000).unwrap();
        assert_eq!(stamps(&line.bytes.lock().unwrap()), [10, 20, 30]);
    }

    #[test]
    fn a_writer_that_never_recovers_keeps_the_newest_lines() {
        let line = Line::default();
        *line.down.lock().unwrap() = true;
        let mut sink = JsonLines::new(line.clone(), backoff());
        for t in 0..PENDING_LINES as u64 + 5 {
            assert!(sink.alert(&alert(t), 1).is_err());
        }
        *line.down.lock().unwrap() = false;
        tick(&mut sink, u64::MAX).unwrap();
        assert!(sink.healthy());
        let expected: Vec<u64> = (5..PENDING_LINES as u64 + 5).collect();
        assert_eq!(stamps(&line.bytes.lock().unwrap()), expected);
    }

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
        JsonLines::new(&mut out, backoff()).alert(&e, 0).unwrap();
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    }
}

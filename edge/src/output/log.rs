//! One structured `tracing` record per alert and per heartbeat (to stderr in the binary), so
//! the journal on the board has the whole story with machine-readable fields.

use shared::wire::{AlertEvent, AlertPhase, Heartbeat};

use super::{OutputError, Sink};

/// Logs events through `tracing`.
#[derive(Debug, Default)]
pub struct LogSink;

impl Sink for LogSink {
    fn alert(&mut self, e: &AlertEvent, active_mask: u8) -> Result<(), OutputError> {
        let phase = match e.phase {
            AlertPhase::Raised => "raised",
            AlertPhase::Cleared => "cleared",
        };
        tracing::warn!(
            t_ms = e.timestamp_ms,
            alert = e.kind.name(),
            phase,
            top = e.scores.top().name(),
            active_mask,
            face = ?e.face,
            "alert"
        );
        Ok(())
    }

    fn heartbeat(&mut self, h: &Heartbeat) -> Result<(), OutputError> {
        tracing::info!(
            t_ms = h.timestamp_ms,
            fps = h.fps_milli as f64 / 1000.0,
            frames = h.frames,
            faces = h.faces,
            dropped = h.dropped_frames,
            source_errors = h.source_errors,
            output_errors = h.output_errors,
            fault = h.fault.map(|c| c.name()),
            inference_us_p50 = h.inference_us_p50,
            inference_us_p99 = h.inference_us_p99,
            active_alerts = h.active_alerts,
            "heartbeat"
        );
        Ok(())
    }
}

//! Where alerts go: GPIO pins (buzzer, LED), the serial wire protocol, JSON lines on stdout
//! and the log. Each is a [`Sink`]; the loop hands every event to every sink, and a failing
//! sink (unplugged serial adapter, GPIO error) is logged and counted without stopping the
//! others or the loop, and reports itself unhealthy until it works again, which the policy
//! turns into the fault alert when it lasts.

pub mod detached;
pub mod indicator;
pub mod json;
pub mod log;
pub mod systemd;
pub mod wire;

use shared::wire::{AlertEvent, Heartbeat};

pub use detached::Detached;
pub use indicator::Indicator;
pub use json::JsonLines;
pub use log::LogSink;
pub use systemd::SystemdNotify;
pub use wire::WireSink;

/// Why an output failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Writing to a stream (serial port, stdout) failed.
    #[error("{sink}: {source}")]
    Io {
        /// Which sink.
        sink: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Encoding a message failed.
    #[error("{sink}: encoding: {reason}")]
    Encode {
        /// Which sink.
        sink: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A sink on its own thread ([`Detached`]) is blocked: its queue is full and the alert
    /// was dropped.
    #[error("{sink}: blocked; alert dropped ({dropped} so far)")]
    Stalled {
        /// Which sink.
        sink: &'static str,
        /// Alerts this sink has dropped so far.
        dropped: u64,
    },
    /// A sink's thread ended (the sink panicked); nothing reaches it any more.
    #[error("{sink}: its thread has stopped")]
    Stopped {
        /// Which sink.
        sink: &'static str,
    },
    /// A GPIO pin could not be set.
    #[error("{sink}: pin {pin}: {kind} ({detail})")]
    Pin {
        /// Which sink.
        sink: &'static str,
        /// "buzzer" or "led".
        pin: &'static str,
        /// What the HAL says went wrong, in embedded-hal's terms (pin error types differ from
        /// one HAL to the next; their kind is common to all).
        kind: embedded_hal::digital::ErrorKind,
        /// The HAL's own error, formatted.
        detail: String,
    },
}

/// The loop's state at the end of each turn, for time-based outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// The turn's time, frame clock ms.
    pub t_ms: u64,
    /// Whether this turn decided on a frame (the watchdog is fed only then).
    pub decided: bool,
    /// Alerts active after the turn ([`shared::wire::AlertKind::bit`]).
    pub active_mask: u8,
}

/// A consumer of alert-loop events.
pub trait Sink {
    /// An alert was raised or cleared; `active_mask` is the set of alerts active after it
    /// ([`shared::wire::AlertKind::bit`]).
    fn alert(&mut self, event: &AlertEvent, active_mask: u8) -> Result<(), OutputError>;

    /// A periodic heartbeat.
    fn heartbeat(&mut self, heartbeat: &Heartbeat) -> Result<(), OutputError> {
        let _ = heartbeat;
        Ok(())
    }

    /// Called at the end of every turn of the loop, with or without a frame, for
    /// time-based outputs (buzzer patterns, blinking, the watchdog).
    fn tick(&mut self, tick: &Tick) -> Result<(), OutputError> {
        let _ = tick;
        Ok(())
    }

    /// Whether the sink's last attempt to reach its device worked.
    fn healthy(&self) -> bool {
        true
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn alert(&mut self, event: &AlertEvent, active_mask: u8) -> Result<(), OutputError> {
        (**self).alert(event, active_mask)
    }

    fn heartbeat(&mut self, heartbeat: &Heartbeat) -> Result<(), OutputError> {
        (**self).heartbeat(heartbeat)
    }

    fn tick(&mut self, tick: &Tick) -> Result<(), OutputError> {
        (**self).tick(tick)
    }

    fn healthy(&self) -> bool {
        (**self).healthy()
    }
}

/// Test fixtures shared by the sinks' tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::{self, Write};
    use std::sync::{Arc, Mutex};

    use shared::wire::{AlertEvent, AlertKind, AlertPhase, EmotionScores};

    /// A fear alert raised at `t` ms, with no scores and no face.
    pub(crate) fn alert(t: u64) -> AlertEvent {
        AlertEvent {
            timestamp_ms: t,
            kind: AlertKind::Fear,
            phase: AlertPhase::Raised,
            scores: EmotionScores::default(),
            face: None,
        }
    }

    /// The `t_ms` of every JSON line in `bytes`, in order (blank lines skipped).
    pub(crate) fn stamps(bytes: &[u8]) -> Vec<u64> {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["t_ms"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    }

    /// A line that can be unplugged: writes fail while `down` is set; clones share the line.
    #[derive(Clone, Default)]
    pub(crate) struct Line {
        pub(crate) bytes: Arc<Mutex<Vec<u8>>>,
        pub(crate) down: Arc<Mutex<bool>>,
    }

    impl Write for Line {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if *self.down.lock().unwrap() {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}

//! Alerts, heartbeats and the model manifest as wire frames ([`shared::wire::encode_frame`]:
//! postcard, CRC-32, COBS) on a serial line to the car's head unit or a logger, or any
//! [`std::io::Write`].
//!
//! Every frame is a [`Packet`] carrying this start's boot id and a sequence number, so the
//! receiver can tell lost, repeated and reordered frames and a restarted edge. The manifest
//! goes first on every (re)opened line, so a receiver always learns which model speaks.
//!
//! A line that fails is a fault, never a crash: with an opener ([`WireSink::reopening`]) the
//! sink closes a port whose write failed (a USB adapter pulled out) and reopens it with
//! exponential back-off on the loop's clock; a port missing at start-up is opened the same
//! way once it appears. Until then every message is an output error and the sink reports
//! itself unhealthy, which the policy turns into the fault alert. Each frame is written whole
//! and flushed, so a receiver never waits on a half frame. [`open_serial`] sets a tty to raw
//! mode at the configured speed (a tty's default mode turns each 0x0A into 0D 0A, which
//! breaks frames).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use shared::wire::{AlertEvent, Heartbeat, Message, ModelManifest, Packet, encode_frame};

use super::{OutputError, Sink, Tick};
use crate::source::retry::Backoff;

/// Opens (or reopens) the line.
pub type PortOpener<W> = Box<dyn FnMut() -> io::Result<W> + Send>;

/// Writes wire frames to `W`.
pub struct WireSink<W> {
    writer: Option<W>,
    opener: Option<(PortOpener<W>, Backoff)>,
    /// Loop time of the next open attempt while closed.
    retry_at: u64,
    boot_id: u32,
    seq: u32,
    manifest: Option<Box<ModelManifest>>,
    failing: bool,
    name: String,
}

fn io_error(source: io::Error) -> OutputError {
    OutputError::Io { sink: "serial", source }
}

impl<W: Write> WireSink<W> {
    /// Frames go to `writer`, stamped with `boot_id` (see [`boot_id`]); a write error is
    /// reported and the next message is tried on the same writer.
    pub fn new(writer: W, boot_id: u32) -> Self {
        Self::with(Some(writer), None, "serial".into(), boot_id)
    }

    /// A line opened by `open` on the first turn of the loop and reopened after any write
    /// error, waiting `backoff` between failed attempts.
    pub fn reopening(name: impl Into<String>, open: PortOpener<W>, backoff: Backoff, boot_id: u32) -> Self {
        Self::with(None, Some((open, backoff)), name.into(), boot_id)
    }

    fn with(writer: Option<W>, opener: Option<(PortOpener<W>, Backoff)>, name: String, boot_id: u32) -> Self {
        WireSink {
            writer,
            opener,
            retry_at: 0,
            boot_id,
            seq: 0,
            manifest: None,
            failing: false,
            name,
        }
    }

    /// Sends `manifest` now and again first on every reopened line.
    pub fn announce(&mut self, manifest: ModelManifest) -> Result<(), OutputError> {
        let manifest = Box::new(manifest);
        self.manifest = Some(manifest.clone());
        if self.writer.is_some() {
            self.send(&Message::Manifest(manifest))
        } else {
            Ok(())
        }
    }

    /// Gives the writer back, if the line is open.
    pub fn into_inner(self) -> Option<W> {
        self.writer
    }

    /// Opens the line if it is closed, has an opener and its back-off has passed.
    fn reconnect(&mut self, t_ms: u64) {
        if self.writer.is_some() || t_ms < self.retry_at {
            return;
        }
        let Some((open, backoff)) = self.opener.as_mut() else {
            return;
        };
        match open() {
            Ok(writer) => {
                backoff.reset();
                tracing::info!(port = %self.name, "serial line open");
                self.writer = Some(writer);
                if let Some(manifest) = self.manifest.clone() {
                    // A failure here closes the line again; the next turn retries.
                    let _ = self.send(&Message::Manifest(manifest));
                }
            }
            Err(e) => {
                let delay = backoff.next_delay().as_millis() as u64;
                self.retry_at = t_ms.saturating_add(delay);
                self.failing = true;
                tracing::warn!(port = %self.name, error = %e, retry_in_ms = delay, "serial line unavailable");
            }
        }
    }

    fn send(&mut self, message: &Message) -> Result<(), OutputError> {
        let packet = Packet {
            boot_id: self.boot_id,
            seq: self.seq,
            message: message.clone(),
        };
        // A lost frame is a gap in the sequence the receiver can see.
        self.seq = self.seq.wrapping_add(1);
        let frame = encode_frame(&packet).map_err(|e| OutputError::Encode {
            sink: "serial",
            reason: e.to_string(),
        })?;
        let Some(writer) = self.writer.as_mut() else {
            self.failing = true;
            return Err(io_error(io::Error::new(
                io::ErrorKind::NotConnected,
                format!("{} is not open", self.name),
            )));
        };
        let written = writer.write_all(&frame).and_then(|()| writer.flush());
        self.failing = written.is_err();
        if written.is_err() && self.opener.is_some() {
            self.writer = None;
        }
        written.map_err(io_error)
    }
}

impl<W: Write> Sink for WireSink<W> {
    fn alert(&mut self, event: &AlertEvent, _active_mask: u8) -> Result<(), OutputError> {
        self.send(&Message::Alert(event.clone()))
    }

    fn heartbeat(&mut self, heartbeat: &Heartbeat) -> Result<(), OutputError> {
        self.send(&Message::Heartbeat(heartbeat.clone()))
    }

    fn tick(&mut self, tick: &Tick) -> Result<(), OutputError> {
        self.reconnect(tick.t_ms);
        Ok(())
    }

    fn healthy(&self) -> bool {
        !self.failing
    }
}

/// A random id for this start of the program (for [`Packet::boot_id`]).
pub fn boot_id() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    // std's hasher keys are random per process; mixing in the time guards against a
    // platform where they are not.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish() as u32
}

/// Opens a serial port for writing; a tty is put in raw mode at `baud` (8N1, no flow
/// control, no output processing), anything else (a file, a FIFO) is used as it is.
pub fn open_serial(path: &Path, baud: u32) -> io::Result<File> {
    let file = OpenOptions::new().write(true).open(path)?;
    if rustix::termios::isatty(&file) {
        configure_tty(&file, baud)?;
    }
    Ok(file)
}

fn configure_tty(file: &File, baud: u32) -> io::Result<()> {
    use rustix::termios::{ControlModes, OptionalActions, tcgetattr, tcsetattr};
    let mut termios = tcgetattr(file)?;
    termios.make_raw();
    termios.control_modes |= ControlModes::CLOCAL | ControlModes::CREAD;
    termios.control_modes &= !(ControlModes::CSTOPB | ControlModes::PARENB);
    termios
        .set_speed(baud)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("baud {baud}: {e}")))?;
    tcsetattr(file, OptionalActions::Now, &termios)?;
    Ok(())
}

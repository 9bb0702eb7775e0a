//! Alerts and heartbeats as postcard + COBS frames ([`shared::wire::encode_frame`]) on a
//! serial line to the car's head unit or a logger — or any [`std::io::Write`].
//!
//! A serial port is opened as a plain file (`/dev/ttyAMA0`, `/dev/ttyUSB0`); set its speed
//! outside the program (`stty -F /dev/ttyAMA0 115200 raw`). Each frame is written whole and
//! flushed so a receiver never waits on a half frame.

use std::io::Write;

use shared::wire::{AlertEvent, Heartbeat, Message, encode_frame};

use super::{OutputError, Sink};

/// Writes wire frames to `W`.
pub struct WireSink<W> {
    writer: W,
}

impl<W: Write> WireSink<W> {
    /// Frames go to `writer`.
    pub fn new(writer: W) -> Self {
        WireSink { writer }
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.writer
    }

    fn send(&mut self, message: &Message) -> Result<(), OutputError> {
        let frame = encode_frame(message).map_err(|e| OutputError::Encode {
            sink: "serial",
            reason: e.to_string(),
        })?;
        self.writer
            .write_all(&frame)
            .and_then(|()| self.writer.flush())
            .map_err(|source| OutputError::Io { sink: "serial", source })
    }
}

impl<W: Write> Sink for WireSink<W> {
    fn alert(&mut self, event: &AlertEvent, _active_mask: u8) -> Result<(), OutputError> {
        self.send(&Message::Alert(event.clone()))
    }

    fn heartbeat(&mut self, heartbeat: &Heartbeat) -> Result<(), OutputError> {
        self.send(&Message::Heartbeat(heartbeat.clone()))
    }
}

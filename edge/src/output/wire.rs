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
            self.send(Message::Manifest(manifest))
        } else {
            Ok(())
        }
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
                    let _ = self.send(Message::Manifest(manifest));
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

    fn send(&mut self, message: Message) -> Result<(), OutputError> {
        let packet = Packet {
            boot_id: self.boot_id,
            seq: self.seq,
            message,
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
        self.send(Message::Alert(event.clone()))
    }

    fn heartbeat(&mut self, heartbeat: &Heartbeat) -> Result<(), OutputError> {
        self.send(Message::Heartbeat(heartbeat.clone()))
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

/// Line speeds a serial port can be set to (`outputs.serial_baud`).
pub const STANDARD_BAUDS: [u32; 8] = [9600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 921_600];

/// The `termios` speed constant of a standard baud rate.
fn speed(baud: u32) -> io::Result<libc::speed_t> {
    Ok(match baud {
        9600 => libc::B9600,
        19_200 => libc::B19200,
        38_400 => libc::B38400,
        57_600 => libc::B57600,
        115_200 => libc::B115200,
        230_400 => libc::B230400,
        460_800 => libc::B460800,
        921_600 => libc::B921600,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("baud {baud} is not one of {STANDARD_BAUDS:?}"),
            ));
        }
    })
}

/// Raw 8N1 at `baud` through the classic termios calls (what `stty` does; the termios2
/// ioctls are missing under qemu-user, where CI runs the aarch64 tests).
fn configure_tty(file: &File, baud: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let speed = speed(baud)?;
    let fd = file.as_raw_fd();
    let check = |rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    // SAFETY: `fd` is an open descriptor owned by `file` for the whole call, and `termios`
    // is a plain C struct that tcgetattr fills completely before it is read.
    unsafe {
        let mut termios: libc::termios = std::mem::zeroed();
        check(libc::tcgetattr(fd, &mut termios))?;
        libc::cfmakeraw(&mut termios);
        termios.c_cflag |= libc::CLOCAL | libc::CREAD;
        termios.c_cflag &= !(libc::CSTOPB | libc::PARENB | libc::CRTSCTS);
        check(libc::cfsetispeed(&mut termios, speed))?;
        check(libc::cfsetospeed(&mut termios, speed))?;
        check(libc::tcsetattr(fd, libc::TCSANOW, &termios))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use shared::wire::{AlertKind, AlertPhase, Continuity, EmotionScores, FrameDecoder, SequenceCheck};

    use super::*;

    /// A tty opened as the serial line is raw at the configured speed: a 0x0A byte in a
    /// frame reaches the other end as 0x0A (a tty's default mode sends 0D 0A).
    #[test]
    fn a_tty_is_set_to_raw_mode_at_the_configured_speed() {
        use std::os::fd::AsRawFd;

        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let path = std::path::PathBuf::from(name.to_str().unwrap());
        let mut port = open_serial(&path, 9600).unwrap();
        // SAFETY: a valid descriptor and a C struct tcgetattr fills.
        let termios = unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            assert_eq!(libc::tcgetattr(port.as_raw_fd(), &mut t), 0);
            t
        };
        assert_eq!(termios.c_oflag & libc::OPOST, 0, "no output processing");
        assert_eq!(
            termios.c_lflag & (libc::ICANON | libc::ECHO),
            0,
            "no line editing or echo"
        );
        // SAFETY: reads a field of an initialised struct.
        assert_eq!(unsafe { libc::cfgetospeed(&termios) }, libc::B9600);
        assert!(open_serial(&path, 12_345).is_err(), "a non-standard speed is refused");
        port.write_all(&[0x41, 0x0A, 0x00]).unwrap();
        let mut master = std::fs::File::from(master);
        let mut got = [0u8; 3];
        master.read_exact(&mut got).unwrap();
        assert_eq!(got, [0x41, 0x0A, 0x00]);
    }

    /// A line that can be unplugged: writes fail while `down` is set.
    #[derive(Clone, Default)]
    struct Line {
        bytes: Arc<Mutex<Vec<u8>>>,
        down: Arc<Mutex<bool>>,
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

    fn tick(sink: &mut WireSink<Line>, t_ms: u64) {
        sink.tick(&Tick {
            t_ms,
            decided: true,
            active_mask: 0,
        })
        .unwrap();
    }

    fn alert(t: u64) -> AlertEvent {
        AlertEvent {
            timestamp_ms: t,
            kind: AlertKind::Fear,
            phase: AlertPhase::Raised,
            scores: EmotionScores::default(),
            face: None,
        }
    }

    #[test]
    fn a_missing_port_is_a_fault_then_opened_with_back_off_and_reopened_after_a_failure() {
        let line = Line::default();
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let (opened, log) = (line.clone(), attempts.clone());
        let mut plugged_at = 3; // the third attempt finds the port
        let open: PortOpener<Line> = Box::new(move || {
            let mut log = log.lock().unwrap();
            log.push(());
            if log.len() < plugged_at {
                return Err(io::ErrorKind::NotFound.into());
            }
            plugged_at = 0;
            Ok(opened.clone())
        });
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let mut sink = WireSink::reopening("/dev/ttyUSB0", open, backoff, 0xB0);
        sink.announce(artifacts::manifest::for_tests()).unwrap();

        // Missing at start: every message fails and the sink says so, nothing panics.
        tick(&mut sink, 0); // attempt 1 fails: next at 100
        assert!(!sink.healthy());
        assert!(sink.alert(&alert(10), 1).is_err());
        tick(&mut sink, 50); // too early
        tick(&mut sink, 100); // attempt 2 fails: next at 100 + 200
        tick(&mut sink, 250);
        assert_eq!(attempts.lock().unwrap().len(), 2, "back-off respected");
        tick(&mut sink, 300); // attempt 3 opens and sends the manifest first
        assert_eq!(attempts.lock().unwrap().len(), 3);
        sink.alert(&alert(310), 1).unwrap();
        assert!(sink.healthy());

        // Unplugged mid-run: the failed frame is lost, the line reopened at the next turn,
        // the manifest sent again.
        *line.down.lock().unwrap() = true;
        assert!(sink.alert(&alert(400), 1).is_err());
        assert!(!sink.healthy());
        *line.down.lock().unwrap() = false;
        tick(&mut sink, 450);
        sink.alert(&alert(460), 1).unwrap();
        assert!(sink.healthy());

        let mut check = SequenceCheck::default();
        let got: Vec<(Continuity, &'static str)> = FrameDecoder::new(4096)
            .push(&line.bytes.lock().unwrap())
            .into_iter()
            .map(|p| {
                let p = p.unwrap();
                assert_eq!(p.boot_id, 0xB0);
                let kind = match p.message {
                    Message::Manifest(_) => "manifest",
                    Message::Alert(_) => "alert",
                    Message::Heartbeat(_) => "heartbeat",
                };
                (check.check(&p), kind)
            })
            .collect();
        assert_eq!(
            got,
            [
                (Continuity::First, "manifest"),
                (Continuity::InOrder, "alert"),
                // The alert at 400 was lost with the line: the receiver sees the gap.
                (Continuity::Gap { missing: 1 }, "manifest"),
                (Continuity::InOrder, "alert"),
            ]
        );
    }
}

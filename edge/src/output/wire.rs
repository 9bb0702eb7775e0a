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
//! and flushed, so a receiver never waits on a half frame; after a failure the next frame
//! starts with a lone `0`, which closes any frame a failed write cut short, so the receiver
//! loses that frame alone (a COBS decoder skips the empty frame). [`open_serial`] sets a tty to raw mode at
//! the configured speed (a tty's default mode turns each 0x0A into 0D 0A, which breaks
//! frames) and opens the port non-blocking: a peer that stops reading (a USB serial gadget
//! still plugged in but hung) fills the line's buffer, and a blocking write would then stop
//! the whole loop, alerts and watchdog included, without a word; a non-blocking one fails,
//! which is the fault above.

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
    /// The last send or open failed: a write may have stopped part-way through a frame.
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
        // After a failure a lone 0 closes whatever part of a frame the failed write left.
        let close_cut_frame = if self.failing { writer.write_all(&[0]) } else { Ok(()) };
        let written = close_cut_frame
            .and_then(|()| writer.write_all(&frame))
            .and_then(|()| writer.flush());
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

/// Opens a serial port for writing, non-blocking (see the module docs); a tty is put in raw
/// mode at `baud` (8N1, no flow control, no output processing), anything else (a file, a
/// FIFO) is used as it is (a FIFO with no reader yet fails to open, and is retried).
pub fn open_serial(path: &Path, baud: u32) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
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

    use shared::wire::{Continuity, FrameDecoder, SequenceCheck};

    use super::*;
    use crate::output::testing::{Line, alert};

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

    /// A peer that stops reading fills the line: the write fails at once instead of blocking
    /// the loop, and once the peer reads again the next frame arrives whole, the cut one
    /// being the only loss.
    #[test]
    fn a_line_nobody_reads_fails_instead_of_blocking_and_recovers() {
        use std::os::fd::AsRawFd;

        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let path = std::path::PathBuf::from(ptsname(&master, Vec::new()).unwrap().to_str().unwrap());
        let port = open_serial(&path, 115_200).unwrap();
        // The test's side reads without blocking too, to drain what is there.
        // SAFETY: `master` is an open descriptor for the whole call.
        assert_eq!(
            unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) },
            0
        );
        let mut master = std::fs::File::from(master);

        // A blocking port would hang here, so the writes run on their own thread.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sink = WireSink::new(port, 0xB0);
            let sent = (0..1_000_000u64)
                .take_while(|&t| sink.alert(&alert(t), 1).is_ok())
                .count();
            let _ = done.send((sent, sink));
        });
        let (sent, mut sink) = finished
            .recv_timeout(Duration::from_secs(60))
            .expect("writing to a line nobody reads blocked");
        assert!(sent < 1_000_000, "the writes never failed");
        assert!(!sink.healthy());

        // The pty hands bytes over asynchronously: read until `frames` frame ends (zeros)
        // have arrived, or 10 s.
        let mut bytes = Vec::new();
        let mut read_until = |bytes: &mut Vec<u8>, frames: usize| {
            let mut buf = [0u8; 4096];
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while bytes.iter().filter(|&&b| b == 0).count() < frames && std::time::Instant::now() < deadline {
                match master.read(&mut buf) {
                    Ok(n) if n > 0 => bytes.extend_from_slice(&buf[..n]),
                    _ => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        };
        read_until(&mut bytes, sent);
        sink.alert(&alert(2_000_000), 1).unwrap();
        assert!(sink.healthy());
        // The lone zero that closes the cut frame, then the new frame.
        read_until(&mut bytes, sent + 2);
        let packets = FrameDecoder::new(4096).push(&bytes);
        let stamps: Vec<u64> = packets
            .iter()
            .filter_map(|p| match p {
                Ok(Packet {
                    message: Message::Alert(a),
                    ..
                }) => Some(a.timestamp_ms),
                _ => None,
            })
            .collect();
        assert_eq!(stamps.len(), sent + 1, "every whole frame arrives");
        assert_eq!(
            stamps.last(),
            Some(&2_000_000),
            "the frame after the cut one arrives whole"
        );
        assert!(
            packets.iter().filter(|p| p.is_err()).count() <= 1,
            "only the cut frame is lost"
        );
    }

    /// A frame cut short by a failed write is closed before the next one, which then decodes.
    #[test]
    fn a_frame_cut_short_costs_only_itself() {
        /// Takes `room` more bytes, then fails.
        struct Cutting {
            bytes: Vec<u8>,
            room: usize,
        }
        impl Write for Cutting {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let n = buf.len().min(self.room);
                if n == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                self.room -= n;
                self.bytes.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut sink = WireSink::new(
            Cutting {
                bytes: Vec::new(),
                room: 0,
            },
            0xB0,
        );
        let whole = encode_frame(&Packet {
            boot_id: 0xB0,
            seq: 0,
            message: Message::Alert(alert(1)),
        })
        .unwrap()
        .len();
        sink.writer.as_mut().unwrap().room = whole + whole / 2;
        sink.alert(&alert(1), 1).unwrap();
        assert!(sink.alert(&alert(2), 1).is_err(), "half of the second frame fits");
        sink.writer.as_mut().unwrap().room = usize::MAX;
        sink.alert(&alert(3), 1).unwrap();

        let mut check = SequenceCheck::default();
        let got: Vec<_> = FrameDecoder::new(4096)
            .push(&sink.writer.as_ref().unwrap().bytes)
            .into_iter()
            .map(|p| p.map(|p| check.check(&p)))
            .collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], Ok(Continuity::First));
        assert!(got[1].is_err(), "the cut frame fails its check: {got:?}");
        assert_eq!(got[2], Ok(Continuity::Gap { missing: 1 }));
    }

    fn tick(sink: &mut WireSink<Line>, t_ms: u64) {
        sink.tick(&Tick {
            t_ms,
            decided: true,
            active_mask: 0,
        })
        .unwrap();
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

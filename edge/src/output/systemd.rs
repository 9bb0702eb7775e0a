//! systemd readiness and watchdog notifications (`sd_notify`), for the board's
//! `Type=notify` + `WatchdogSec=` unit: `READY=1` once the loop is set up, then `WATCHDOG=1`
//! at most once a second on turns that decided on a frame — so a loop that hangs, or one
//! that runs but cannot decide (a camera that stays gone, a model that keeps failing), gets
//! the service restarted by systemd. (The fault alert has told the driver long before.)
//!
//! The protocol is one datagram to the socket named by `$NOTIFY_SOCKET` (a path, or an
//! abstract name when it starts with `@`); without that variable this sink does nothing.

use std::os::unix::net::UnixDatagram;

use super::{OutputError, Sink, Tick};

/// Sends `sd_notify` messages.
pub struct SystemdNotify {
    socket: UnixDatagram,
    last_ping_ms: Option<u64>,
    failing: bool,
}

impl SystemdNotify {
    /// Connects to `$NOTIFY_SOCKET`; `None` when not run by systemd with notify access.
    pub fn from_env() -> Result<Option<Self>, OutputError> {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(addr) => Self::connect(&addr.to_string_lossy()).map(Some),
            None => Ok(None),
        }
    }

    /// Connects to a notify socket path (`@name`: abstract namespace, Linux only).
    pub fn connect(addr: &str) -> Result<Self, OutputError> {
        let io = |source| OutputError::Io {
            sink: "systemd",
            source,
        };
        let socket = UnixDatagram::unbound().map_err(io)?;
        match addr.strip_prefix('@') {
            #[cfg(target_os = "linux")]
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let a = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).map_err(io)?;
                socket.connect_addr(&a).map_err(io)?;
            }
            _ => socket.connect(addr).map_err(io)?,
        }
        Ok(SystemdNotify {
            socket,
            last_ping_ms: None,
            failing: false,
        })
    }

    /// Tells systemd the service is up.
    pub fn ready(&self) -> Result<(), OutputError> {
        self.send("READY=1")
    }

    fn send(&self, message: &str) -> Result<(), OutputError> {
        self.socket
            .send(message.as_bytes())
            .map(|_| ())
            .map_err(|source| OutputError::Io {
                sink: "systemd",
                source,
            })
    }
}

impl Sink for SystemdNotify {
    fn alert(&mut self, _: &shared::wire::AlertEvent, _: u8) -> Result<(), OutputError> {
        Ok(())
    }

    fn tick(&mut self, tick: &Tick) -> Result<(), OutputError> {
        let t_ms = tick.t_ms;
        if !tick.decided || self.last_ping_ms.is_some_and(|last| t_ms < last.saturating_add(1000)) {
            return Ok(());
        }
        self.last_ping_ms = Some(t_ms);
        let sent = self.send("WATCHDOG=1");
        self.failing = sent.is_err();
        sent
    }

    fn healthy(&self) -> bool {
        !self.failing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_then_watchdog_once_a_second_of_decided_turns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        server.set_nonblocking(true).unwrap();
        let mut n = SystemdNotify::connect(path.to_str().unwrap()).unwrap();
        n.ready().unwrap();
        for t in (0..2500).step_by(100) {
            n.tick(&Tick {
                t_ms: t,
                decided: true,
                active_mask: 0,
            })
            .unwrap();
        }
        // Turns without a decision never feed the watchdog.
        for t in (2500..10_000).step_by(100) {
            n.tick(&Tick {
                t_ms: t,
                decided: false,
                active_mask: 0,
            })
            .unwrap();
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while let Ok(len) = server.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..len]).to_string());
        }
        assert_eq!(got, ["READY=1", "WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1"]);
    }
}

//! `edge.toml`: every setting of the runtime in one struct, with its default.
//!
//! Each section may be left out, and each key in it: what is not given takes the default
//! from the `DEFAULT_*` constants here (the policy's live in `shared::policy::config`).
//! `edge/edge.toml` lists every key with its default, and a test checks that the file and
//! the code agree. Unknown keys, wrong types and out-of-range values are errors that name
//! the key (`policy.anger.clear: must be below the raise threshold`), never silently ignored:
//! a typo in a threshold must not leave a car with a policy nobody chose.
//!
//! Exception: `[preprocessing]` is the model's own recipe (`shared::preprocess`) and its
//! manifest is the source of truth: left out (the default), the manifest's is used; given,
//! it must be given whole (size, margin, enhancement, normalization) and equal the
//! manifest's, or start-up is refused with both named ([`EdgeConfig::preprocessing_for`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use shared::policy::PolicyConfig;
use shared::preprocess::Preprocessing;

/// Frame width asked of the camera.
pub const DEFAULT_WIDTH: u32 = 640;
/// Frame height asked of the camera.
pub const DEFAULT_HEIGHT: u32 = 480;
/// Replay rate, frames per second.
pub const DEFAULT_REPLAY_FPS: f64 = 30.0;
/// Replays are released at their frame rate in real time.
pub const DEFAULT_REPLAY_PACE: bool = true;
/// First wait before reopening a failed camera.
pub const DEFAULT_RETRY_INITIAL_MS: u64 = 100;
/// Longest wait between camera (and serial port) reopen attempts: the loop turns, and the
/// fault alert's beeps and blinking advance, at least this often while a device is gone.
pub const DEFAULT_RETRY_MAX_MS: u64 = 1_000;
/// The reopen waits allowed: at least 10 ms, so a device that stays gone is not asked again
/// in a busy loop that floods the journal; at most 5 s, since the loop (and with it the
/// fault alert's beeps and blinking) waits that long on the loop thread.
pub const RETRY_MS_RANGE: std::ops::RangeInclusive<u64> = 10..=5_000;
/// Smallest face searched for, in pixels: a driver's face in a 640x480 dashboard camera is
/// well over 100 px wide, and skipping the small scales makes detection ~4x cheaper than
/// OpenCV's default of 30.
pub const DEFAULT_MIN_FACE: u32 = 64;
/// Detect on every 3rd frame while a face is tracked (10 detections/s at 30 fps).
pub const DEFAULT_DETECT_EVERY: u32 = 3;
/// Kalman-filter the tracked face box: steadier crops than the detector's jittering boxes,
/// and a predicted rather than stale box on the frames between detections.
pub const DEFAULT_SMOOTH_BOX: bool = true;
/// Serial line speed, bits per second (8N1, raw).
pub const DEFAULT_SERIAL_BAUD: u32 = 115_200;
/// Heartbeat period.
pub const DEFAULT_HEARTBEAT_MS: u64 = 5_000;
/// How long the buzzer sounds when an alert is raised.
pub const DEFAULT_BUZZER_MS: u64 = 1_500;
/// Longest buzzer per alert accepted in `edge.toml`, ms.
pub const MAX_BUZZER_MS: u64 = 60_000;
/// Alerts as JSON lines on stdout.
pub const DEFAULT_JSON: bool = true;
/// GPIO character device.
pub const DEFAULT_GPIO_CHIP: &str = "/dev/gpiochip0";
/// Buzzer line (BCM 17 = header pin 11 on a Raspberry Pi).
pub const DEFAULT_BUZZER_LINE: u32 = 17;
/// LED line (BCM 27 = header pin 13 on a Raspberry Pi).
pub const DEFAULT_LED_LINE: u32 = 27;

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not valid TOML, or a key of the wrong type / unknown.
    #[error("{path}: {key}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// Dotted key path with line, e.g. `policy.anger.raise (line 12)`.
        key: String,
        /// The parser's message.
        message: String,
    },
    /// A value out of range.
    #[error("{path}: {key}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// Dotted key path, e.g. `policy.fear.clear`.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// `[preprocessing]` is given and differs from the model manifest's recipe.
    #[error(
        "[preprocessing] in the config is {config:?} but the model's manifest says {manifest:?}; \
         remove the table to use the manifest's"
    )]
    PreprocessingMismatch {
        /// The config's `[preprocessing]`.
        config: Preprocessing,
        /// The manifest's.
        manifest: Preprocessing,
    },
}

/// `[source]`: where frames come from (the CLI picks which kind).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    /// Camera device used when the CLI names no source, e.g. `/dev/video0`.
    pub camera: Option<PathBuf>,
    /// Frame width asked of the camera.
    pub width: u32,
    /// Frame height asked of the camera.
    pub height: u32,
    /// Replay rate for `--replay`, frames per second (`--fps` overrides).
    pub fps: f64,
    /// Release replayed frames at `fps` in real time (false: as fast as possible).
    pub pace: bool,
    /// First wait before reopening a failed camera, ms (doubles up to `retry_max_ms`).
    pub retry_initial_ms: u64,
    /// Longest wait between reopen attempts, ms.
    pub retry_max_ms: u64,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            camera: None,
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
            fps: DEFAULT_REPLAY_FPS,
            pace: DEFAULT_REPLAY_PACE,
            retry_initial_ms: DEFAULT_RETRY_INITIAL_MS,
            retry_max_ms: DEFAULT_RETRY_MAX_MS,
        }
    }
}

impl SourceConfig {
    /// The retry back-off of `retry_initial_ms` and `retry_max_ms` (reopening the camera and
    /// the serial port, rewriting failed JSON lines).
    pub fn backoff(&self) -> crate::source::retry::Backoff {
        crate::source::retry::Backoff::new(
            std::time::Duration::from_millis(self.retry_initial_ms),
            std::time::Duration::from_millis(self.retry_max_ms),
        )
    }
}

/// `[detection]`: the face detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionConfig {
    /// Haar cascade: OpenCV XML (`.xml`) or vigil's postcard form (any other extension);
    /// `None`: the shipped one ([`artifacts::shipped::CASCADE`]).
    pub cascade: Option<PathBuf>,
    /// Run the detector on every n-th frame while a face is tracked (1: every frame).
    pub detect_every: u32,
    /// Smallest face side searched for, in pixels.
    pub min_face: u32,
    /// Smooth the face box over time with a Kalman filter and predict it on the frames
    /// between detections (false: the last detected box is reused).
    pub smooth_box: bool,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            cascade: None,
            detect_every: DEFAULT_DETECT_EVERY,
            min_face: DEFAULT_MIN_FACE,
            smooth_box: DEFAULT_SMOOTH_BOX,
        }
    }
}

impl DetectionConfig {
    /// The Haar detector's parameters (OpenCV's defaults but for the smallest face).
    pub fn params(&self) -> shared::haar::DetectParams {
        shared::haar::DetectParams {
            min_size: self.min_face,
            ..shared::haar::DetectParams::default()
        }
    }
}

/// `[outputs.gpio]`: buzzer and LED lines on a GPIO character device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpioConfig {
    /// The chip, e.g. `/dev/gpiochip0`.
    pub chip: PathBuf,
    /// Buzzer line offset on the chip.
    pub buzzer_line: u32,
    /// LED line offset on the chip.
    pub led_line: u32,
}

impl Default for GpioConfig {
    fn default() -> Self {
        GpioConfig {
            chip: PathBuf::from(DEFAULT_GPIO_CHIP),
            buzzer_line: DEFAULT_BUZZER_LINE,
            led_line: DEFAULT_LED_LINE,
        }
    }
}

/// `[outputs]`: where alerts and heartbeats go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputsConfig {
    /// Serial port (or any writable file) for postcard+COBS frames; none by default
    /// (`--serial` overrides).
    pub serial: Option<PathBuf>,
    /// Serial line speed; a tty is set to raw 8N1 at this speed.
    pub serial_baud: u32,
    /// Alerts as JSON lines on stdout.
    pub json: bool,
    /// Heartbeat period, ms of frame time; 0: no heartbeats.
    pub heartbeat_ms: u64,
    /// Buzzer duration per raised alert, ms; 0: buzzer off.
    pub buzzer_ms: u64,
    /// Buzzer and LED pins; used when the binary is built with the `gpio` feature and
    /// this table is present.
    pub gpio: Option<GpioConfig>,
}

impl Default for OutputsConfig {
    fn default() -> Self {
        OutputsConfig {
            serial: None,
            serial_baud: DEFAULT_SERIAL_BAUD,
            json: DEFAULT_JSON,
            heartbeat_ms: DEFAULT_HEARTBEAT_MS,
            buzzer_ms: DEFAULT_BUZZER_MS,
            gpio: None,
        }
    }
}

/// The whole `edge.toml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    /// Model file (`--model` overrides); `None`: the shipped one ([`artifacts::shipped::MODEL`]).
    pub model: Option<PathBuf>,
    /// A learned face enhancer put in front of a model trained without one (`--enhancer`
    /// overrides); `None`: only the model's own preparation.
    pub enhancer: Option<PathBuf>,
    /// Frame source.
    pub source: SourceConfig,
    /// Face detection.
    pub detection: DetectionConfig,
    /// Face preprocessing; `None`: the model manifest's. When given it must equal it.
    pub preprocessing: Option<Preprocessing>,
    /// Alert policy.
    pub policy: PolicyConfig,
    /// Outputs.
    pub outputs: OutputsConfig,
}

impl EdgeConfig {
    /// The config at `path`, or every default when there is none.
    pub fn load_or_default(path: Option<&Path>) -> Result<Self, ConfigError> {
        path.map_or_else(|| Ok(Self::default()), Self::load)
    }

    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let parse_error = |key: String, e: &toml::de::Error| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let key = match (key.as_str(), line) {
                (".", Some(l)) | ("", Some(l)) => format!("line {l}"),
                (_, Some(l)) => format!("{key} (line {l})"),
                _ => key,
            };
            ConfigError::Parse {
                path: origin.to_string(),
                key,
                message: e.message().trim().to_string(),
            }
        };
        let de = toml::Deserializer::parse(text).map_err(|e| parse_error(String::new(), &e))?;
        let config: EdgeConfig =
            serde_path_to_error::deserialize(de).map_err(|e| parse_error(e.path().to_string(), e.inner()))?;
        config.validate().map_err(|(key, reason)| ConfigError::Invalid {
            path: origin.to_string(),
            key,
            reason,
        })?;
        Ok(config)
    }

    /// The preprocessing to run for a model whose manifest says `manifest`: the manifest's,
    /// or this config's when it is the same; a different one is an error naming both, since
    /// a model fed faces prepared another way classifies noise without any sign of it.
    pub fn preprocessing_for(&self, manifest: &Preprocessing) -> Result<Preprocessing, ConfigError> {
        match &self.preprocessing {
            Some(own) if own != manifest => Err(ConfigError::PreprocessingMismatch {
                config: *own,
                manifest: *manifest,
            }),
            _ => Ok(*manifest),
        }
    }

    /// Range checks; the error is (dotted key, reason).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, reason: &str| Err((key.to_string(), reason.to_string()));
        if self.source.width == 0 || self.source.width > 16_384 {
            return bad("source.width", "must be in 1..=16384");
        }
        if self.source.height == 0 || self.source.height > 16_384 {
            return bad("source.height", "must be in 1..=16384");
        }
        if !crate::source::replay::FPS_RANGE.contains(&self.source.fps) {
            return bad("source.fps", "must be in 0.01..=1000");
        }
        for (key, ms) in [
            ("source.retry_initial_ms", self.source.retry_initial_ms),
            ("source.retry_max_ms", self.source.retry_max_ms),
        ] {
            if !RETRY_MS_RANGE.contains(&ms) {
                return bad(key, &format!("must be in {RETRY_MS_RANGE:?} ms"));
            }
        }
        if self.source.retry_initial_ms > self.source.retry_max_ms {
            return bad("source.retry_initial_ms", "must not exceed source.retry_max_ms");
        }
        if self.detection.detect_every == 0 {
            return bad(
                "detection.detect_every",
                "must be at least 1 (1: detect on every frame)",
            );
        }
        if !(20..=4096).contains(&self.detection.min_face) {
            return bad("detection.min_face", "must be in 20..=4096 pixels");
        }
        if let Some(pre) = &self.preprocessing
            && let Err(e) = pre.validate()
        {
            return bad(&format!("preprocessing.{}", e.key), e.reason);
        }
        if !crate::output::wire::STANDARD_BAUDS.contains(&self.outputs.serial_baud) {
            return bad(
                "outputs.serial_baud",
                "must be a standard speed: 9600, 19200, 38400, 57600, 115200, 230400, 460800 or 921600",
            );
        }
        if self.outputs.buzzer_ms > MAX_BUZZER_MS {
            return bad("outputs.buzzer_ms", "must be at most 60000 (one minute)");
        }
        if let Some(g) = &self.outputs.gpio
            && g.buzzer_line == g.led_line
        {
            return bad("outputs.gpio.led_line", "must differ from outputs.gpio.buzzer_line");
        }
        self.policy
            .validate()
            .map_err(|e| (format!("policy.{}", e.key), e.reason.to_string()))
    }
}

#[cfg(test)]
mod tests;

//! `edge run`: the driver-monitoring alert loop on a camera, a replayed directory or raw
//! frames on stdin, until the source ends or Ctrl-C; prints latency percentiles on exit.
//!
//! Everything that can be wrong with the set-up (config, model, cascade, output ports) is
//! checked before the first frame, so a misconfigured car fails at start-up with a message
//! naming the problem instead of running without warnings.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::config::EdgeConfig;
use crate::detect::haar::HaarDetector;
use crate::inference;
use crate::inference::face::FacePipeline;
use crate::monitor::{EndReason, Monitor, MonitorConfig};
use crate::output::wire::{boot_id, open_serial};
use crate::output::{Detached, JsonLines, LogSink, Sink, SystemdNotify, WireSink};
use crate::source::deadline::Deadline;
use crate::source::replay::{ImageLoader, ReplaySource};
use crate::source::stdin::RawGreySource;
use crate::source::{FrameSource, READ_DEADLINE, parse_size};
use artifacts::enhancer::Enhancer;
use artifacts::shipped;
use shared::wire::ModelManifest;

/// Arguments of `edge run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file (see edge/edge.toml); without it every setting takes its default.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Replay the images in DIR in file-name order.
    #[arg(long, value_name = "DIR", group = "input")]
    pub replay: Option<PathBuf>,
    /// Replay rate, frames per second [default: source.fps from the config, 30].
    #[arg(long, requires = "replay")]
    pub fps: Option<f64>,
    /// Replay as fast as possible instead of at --fps in real time.
    #[arg(long, requires = "replay")]
    pub no_pace: bool,
    /// Read raw 8-bit grey frames of this size from stdin, e.g. 640x480.
    #[arg(long, value_name = "WxH", value_parser = parse_size, group = "input")]
    pub stdin: Option<(u32, u32)>,
    /// V4L2 camera device, e.g. /dev/video0 [default: source.camera from the config].
    #[arg(long, value_name = "DEVICE", group = "input")]
    pub camera: Option<PathBuf>,
    /// Emotion model (ONNX, with its manifest beside it) [default: model from the config, else the shipped models/vigil-int8.onnx].
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// A learned face enhancer (ONNX with its manifest) put in front of a model trained
    /// without one [default: enhancer from the config, else none].
    #[arg(long, value_name = "FILE")]
    pub enhancer: Option<PathBuf>,
    /// Serial port or file for postcard+COBS alert and heartbeat frames.
    #[arg(long, value_name = "PATH")]
    pub serial: Option<PathBuf>,
    /// Haar cascade (OpenCV XML or postcard) [default: detection.cascade from the config, else the shipped cascade].
    #[arg(long, value_name = "FILE")]
    pub cascade: Option<PathBuf>,
}

/// Runs the alert loop.
pub fn run(args: RunArgs) -> Result<()> {
    let config = EdgeConfig::load_or_default(args.config.as_deref())?;
    let model = match args.model.clone().or_else(|| config.model.clone()) {
        Some(model) => model,
        None => {
            shipped::find(shipped::MODEL, "--model FILE or set `model` in the config").context("no emotion model")?
        }
    };
    let (classifier, manifest) =
        inference::load_with_manifest(&model).with_context(|| format!("loading model {}", model.display()))?;
    // The recipe says how the model was trained and which views of a face it averages.
    tracing::info!(name = %manifest.name, temperature = manifest.temperature, recipe = %manifest.recipe, "model");
    let preprocessing = config
        .preprocessing_for(&manifest.preprocessing)
        .with_context(|| format!("model {}", model.display()))?;
    let mut faces = FacePipeline::for_model(&model, &manifest, preprocessing)
        .with_context(|| format!("loading the enhancer of model {}", model.display()))?;
    if let Some(path) = args.enhancer.clone().or_else(|| config.enhancer.clone()) {
        let enhancer = Enhancer::load(&path).with_context(|| format!("loading the enhancer {}", path.display()))?;
        faces = faces.in_front(enhancer)?;
    }
    if let Some(enhancer) = faces.enhancer() {
        tracing::info!(enhancer = %enhancer.path().display(), "faces go through a learned enhancer");
    }
    let cascade = match args.cascade.clone().or_else(|| config.detection.cascade.clone()) {
        Some(cascade) => cascade,
        None => shipped::find(
            shipped::CASCADE,
            "--cascade FILE or set `detection.cascade` in the config",
        )
        .context("no face cascade")?,
    };
    let detector = HaarDetector::load(&cascade, config.detection.params())?;

    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(LogSink)];
    if config.outputs.json {
        // A reader that stops reading without closing the pipe would block the loop: write
        // on a thread, and a write that takes longer than a frame read may is a fault.
        let json = JsonLines::new(std::io::stdout(), config.source.backoff());
        let json = Detached::spawn("json", json, READ_DEADLINE).context("starting the stdout writer thread")?;
        sinks.push(Box::new(json));
    }
    if let Some(path) = args.serial.clone().or_else(|| config.outputs.serial.clone()) {
        sinks.push(Box::new(serial_sink(path, &config, manifest.clone())?));
    }
    if let Some(gpio) = &config.outputs.gpio {
        sinks.push(gpio::indicator(gpio, config.outputs.buzzer_ms)?);
    }

    let (mut source, frame_size) = open_source(&args, &config)?;
    let monitor_config = MonitorConfig {
        preprocessing,
        policy: config.policy,
        heartbeat_ms: config.outputs.heartbeat_ms,
        detect_every: config.detection.detect_every,
        smooth_box: config.detection.smooth_box,
        frame_size,
    };
    // Under systemd (Type=notify): ready once everything is open, then a watchdog ping
    // per second of processed frames.
    let notify = SystemdNotify::from_env().context("connecting to systemd's NOTIFY_SOCKET")?;
    if let Some(notify) = &notify {
        notify.ready()?;
    }
    sinks.extend(notify.map(|n| Box::new(n) as Box<dyn Sink>));
    let mut monitor = Monitor::new(monitor_config, detector, classifier, sinks)?.with_faces(faces);

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)).context("installing the Ctrl-C handler")?;
    tracing::info!(source = %source.describe(), model = %model.display(), cascade = %cascade.display(), "alert loop started");
    let end = monitor.run(&mut source, &stop);
    eprintln!("{}", monitor.summary());
    match end {
        EndReason::SourceEnded => {
            tracing::info!("source ended");
            Ok(())
        }
        EndReason::Stopped => {
            tracing::info!("stopped");
            Ok(())
        }
        EndReason::SourceFailed(reason) => bail!("frame source failed: {reason}"),
    }
}

/// The wire sink on a serial port: opened now if it can be, else (a USB adapter not yet
/// plugged in) on a later turn, with the back-off of `source.retry_*_ms`; the fault alert
/// speaks for it meanwhile.
fn serial_sink(path: PathBuf, config: &EdgeConfig, manifest: ModelManifest) -> Result<WireSink<std::fs::File>> {
    let baud = config.outputs.serial_baud;
    let name = path.display().to_string();
    let open = Box::new(move || open_serial(&path, baud));
    let backoff = config.source.backoff();
    let boot = boot_id();
    tracing::info!(port = %name, baud, boot_id = format!("{boot:08x}"), "serial output");
    let mut sink = WireSink::reopening(name, open, backoff, boot);
    sink.announce(manifest)
        .context("announcing the model on the serial line")?;
    Ok(sink)
}

/// A frame source and the frame size it promises (if fixed).
type Opened = (Box<dyn FrameSource>, Option<(u32, u32)>);

/// The frame source the arguments ask for, and the frame size it promises (if fixed).
fn open_source(args: &RunArgs, config: &EdgeConfig) -> Result<Opened> {
    if let Some(dir) = &args.replay {
        // ReplaySource::new refuses a rate outside source::replay::FPS_RANGE.
        let fps = args.fps.unwrap_or(config.source.fps);
        let pace = config.source.pace && !args.no_pace;
        let load: ImageLoader = Box::new(|path: &Path| Ok(artifacts::image::load(path)?));
        let source = ReplaySource::new(dir, fps, pace, load)?;
        return Ok((Box::new(source), None));
    }
    if let Some((w, h)) = args.stdin {
        // A pipe whose writer stalls would block the loop for ever; read it on a thread.
        let source = Deadline::spawn(RawGreySource::new(std::io::stdin(), w, h), READ_DEADLINE)
            .context("starting the stdin reader thread")?;
        return Ok((Box::new(source), Some((w, h))));
    }
    let Some(device) = args.camera.clone().or_else(|| config.source.camera.clone()) else {
        bail!("no frame source: pass --replay DIR, --stdin WxH or --camera DEVICE (or set source.camera)");
    };
    camera(device, config)
}

#[cfg(all(feature = "v4l", target_os = "linux"))]
fn camera(device: PathBuf, config: &EdgeConfig) -> Result<Opened> {
    use crate::source::camera::Camera;
    use crate::source::retry::Reconnecting;
    let (w, h) = (config.source.width, config.source.height);
    let start = std::time::Instant::now();
    let name = device.display().to_string();
    let open = Box::new(move || Camera::open(&device, w, h, start));
    let backoff = config.source.backoff();
    let source = Reconnecting::new(name, open, backoff, Box::new(std::thread::sleep));
    // The driver may pick another size; frames are checked against what it delivers.
    Ok((Box::new(source), None))
}

#[cfg(not(all(feature = "v4l", target_os = "linux")))]
fn camera(device: PathBuf, _config: &EdgeConfig) -> Result<Opened> {
    bail!(
        "camera {} requested, but this binary was built without V4L2 support: rebuild with `--features v4l` (needs libclang at build time)",
        device.display()
    )
}

#[cfg(feature = "gpio")]
pub(crate) mod gpio {
    use anyhow::{Context, Result};
    use linux_embedded_hal::CdevPin;
    use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};

    use crate::config::GpioConfig;
    use crate::output::{Indicator, Sink};

    /// Buzzer and LED on the configured GPIO character device lines.
    pub fn indicator(config: &GpioConfig, buzz_ms: u64) -> Result<Box<dyn Sink>> {
        let mut chip = Chip::new(&config.chip).with_context(|| format!("opening {}", config.chip.display()))?;
        let mut pin = |line: u32, name: &str| -> Result<CdevPin> {
            let handle = chip
                .get_line(line)
                .and_then(|l| l.request(LineRequestFlags::OUTPUT, 0, "vigil"))
                .with_context(|| format!("{name} line {line} on {}", config.chip.display()))?;
            CdevPin::new(handle).with_context(|| format!("{name} line {line}"))
        };
        let buzzer = pin(config.buzzer_line, "buzzer")?;
        let led = pin(config.led_line, "led")?;
        Ok(Box::new(Indicator::new(buzzer, led, buzz_ms)?))
    }
}

#[cfg(not(feature = "gpio"))]
pub(crate) mod gpio {
    use anyhow::{Result, bail};

    use crate::config::GpioConfig;
    use crate::output::Sink;

    /// Without the `gpio` feature a configured `[outputs.gpio]` is an error, not ignored.
    pub fn indicator(config: &GpioConfig, _buzz_ms: u64) -> Result<Box<dyn Sink>> {
        bail!(
            "outputs.gpio is set ({}), but this binary was built without the `gpio` feature",
            config.chip.display()
        )
    }
}

//! A constant-velocity Kalman filter over the tracked face box.
//!
//! Why: the Haar detector's box jitters by a few pixels from one detection to the next even
//! on a still face (the scale pyramid steps by 10% and neighbouring windows are averaged),
//! so the 48x48 crop, and with it the emotion probabilities, jitter too; and between
//! detections ([`super::FaceTracker`] skips the detector on most frames) a moving head
//! leaves a stale box behind. Filtering the box removes most of the jitter, and the
//! velocity estimate lets skipped frames use a predicted box instead of the last one.
//!
//! State: centre x, centre y, width, height (px) and their velocities (px/s); the
//! measurement is a detected box's centre and size. Width and height are filtered
//! separately so that any detector's boxes round-trip, not only the Haar detector's
//! squares (a square stays square: both axes see the same numbers).
//!
//! Exactness: the first detection initialises the state to that box with zero velocity,
//! and a detection equal to the prediction changes nothing (zero innovation), so a still
//! face that the detector finds at the same box every time is returned as exactly that box
//! on every frame. A detection far from the prediction (another face, or a jump the model
//! cannot follow) re-initialises the filter instead of being blended in.
//!
//! Noise is expressed in fractions of the face's side (px scale with it: a face near the
//! camera is both bigger and moves more pixels), evaluated at the predicted size.

use nalgebra::linalg::Cholesky;
use nalgebra::{SMatrix, SVector};
use shared::FaceBox;

/// State dimension: cx, cy, w, h, then their velocities.
const N: usize = 8;
/// Measurement dimension: cx, cy, w, h.
const M: usize = 4;

type State = SVector<f32, N>;
type Cov = SMatrix<f32, N, N>;
type Meas = SVector<f32, M>;

/// Standard deviation of a detection's centre, as a fraction of the face's side. Measured:
/// the shipped cascade on JAFFE faces pasted into a 480x360 frame with sensor-like noise
/// (σ ≈ 3 grey levels) and 0-3 px shifts moves the centre by 0.3% of the side (0.5 px on a
/// 160 px face); tripled for what a car camera adds (blur, flicker, small pose changes).
pub const MEASUREMENT_STD_CENTRE: f32 = 0.01;
/// Standard deviation of a detection's width and height, fraction of the side. Measured as
/// above: 1% (1.5-1.9 px; the 1.1 pyramid steps, softened by averaging neighbouring
/// windows); doubled for the same reason.
pub const MEASUREMENT_STD_SIZE: f32 = 0.02;
/// Process noise: standard deviation of the centre's acceleration, sides/s². A driver's
/// head turning to a mirror moves about a face width in 0.3-0.5 s. Chosen by simulating
/// 10 detections/s against the noise above: 1 keeps the filtered box within ~4 px of a
/// 160 px face that starts and stops such a turn abruptly (the worst case), while a still
/// face's centre jitter drops to ~3/4; smaller values smooth more but lag turns by 7-10 px.
pub const ACCEL_STD_CENTRE: f32 = 1.0;
/// Process noise: standard deviation of the size's acceleration, sides/s². Leaning towards
/// or away from the camera changes the size slower than turning moves the centre, and the
/// size is the noisier measurement, so it is smoothed more.
pub const ACCEL_STD_SIZE: f32 = 0.5;
/// Prior standard deviation of the velocity of a newly seen face, sides/s: large enough
/// that the first few detections set the velocity, not the prior of zero.
pub const INITIAL_VELOCITY_STD: f32 = 1.0;
/// A detection whose centre is farther than this many sides from the prediction starts a
/// new track.
pub const GATE_CENTRE_SIDES: f32 = 1.0;
/// A detection whose width or height differs from the prediction by more than this
/// fraction starts a new track.
pub const GATE_SIZE_CHANGE: f32 = 0.5;
/// Longest time the filter extrapolates, ms: a longer gap between frames is taken as this
/// long, so a stale velocity cannot carry the box across the frame.
pub const MAX_EXTRAPOLATION_MS: u64 = 500;

/// Filtered state of one face.
#[derive(Debug, Clone, Copy)]
struct Track {
    x: State,
    p: Cov,
    t_ms: u64,
}

/// Constant-velocity Kalman filter over a face box; empty until the first detection.
#[derive(Debug, Clone, Default)]
pub struct BoxFilter {
    track: Option<Track>,
}

/// Centre and size of a box as floats; exact for any integer box of a plausible size.
fn measurement(b: FaceBox) -> Meas {
    let (w, h) = (b.w as f32, b.h as f32);
    Meas::new(b.x as f32 + w / 2.0, b.y as f32 + h / 2.0, w, h)
}

/// The integer box of a state: sides at least 1, corner and sides rounded (the
/// float-to-int casts saturate, so nothing here can wrap).
fn to_box(x: &State) -> FaceBox {
    let (w, h) = (x[2].max(1.0), x[3].max(1.0));
    FaceBox::new(
        (x[0] - w / 2.0).round() as i32,
        (x[1] - h / 2.0).round() as i32,
        w.round() as u32,
        h.round() as u32,
    )
}

/// Mean side of a state's box, at least 1 px (noise is scaled by it).
fn side(x: &State) -> f32 {
    ((x[2] + x[3]) / 2.0).max(1.0)
}

/// Measurement noise covariance for a face of `side` px.
fn measurement_noise(side: f32) -> SMatrix<f32, M, M> {
    let c = (MEASUREMENT_STD_CENTRE * side).powi(2);
    let s = (MEASUREMENT_STD_SIZE * side).powi(2);
    SMatrix::from_diagonal(&Meas::new(c, c, s, s))
}

/// State transition over `dt` seconds: position += velocity * dt.
fn transition(dt: f32) -> Cov {
    let mut f = Cov::identity();
    for i in 0..M {
        f[(i, i + M)] = dt;
    }
    f
}

/// Process noise over `dt` seconds for a face of `side` px: white acceleration, constant
/// over the interval (the discrete "piecewise constant acceleration" model).
fn process_noise(dt: f32, side: f32) -> Cov {
    let mut q = Cov::zeros();
    for i in 0..M {
        let a = if i < 2 { ACCEL_STD_CENTRE } else { ACCEL_STD_SIZE } * side;
        let var = a * a;
        q[(i, i)] = var * dt.powi(4) / 4.0;
        q[(i, i + M)] = var * dt.powi(3) / 2.0;
        q[(i + M, i)] = var * dt.powi(3) / 2.0;
        q[(i + M, i + M)] = var * dt * dt;
    }
    q
}

/// The measurement matrix: picks the position half of the state.
fn observation() -> SMatrix<f32, M, N> {
    SMatrix::<f32, M, N>::identity()
}

impl Track {
    /// A track at exactly `b`, not moving.
    fn start(b: FaceBox, t_ms: u64) -> Self {
        let z = measurement(b);
        let mut x = State::zeros();
        x.fixed_rows_mut::<M>(0).copy_from(&z);
        let side = side(&x);
        let r = measurement_noise(side);
        let v = (INITIAL_VELOCITY_STD * side).powi(2);
        let mut p = Cov::from_diagonal_element(v);
        p.fixed_view_mut::<M, M>(0, 0).copy_from(&r);
        Track { x, p, t_ms }
    }

    /// Seconds from this track's time to `t_ms`: 0 if `t_ms` is not later, capped at
    /// [`MAX_EXTRAPOLATION_MS`].
    fn dt(&self, t_ms: u64) -> f32 {
        t_ms.saturating_sub(self.t_ms).min(MAX_EXTRAPOLATION_MS) as f32 / 1000.0
    }

    /// The track moved on to `t_ms` (the time stays if `t_ms` is earlier).
    fn predicted(&self, t_ms: u64) -> Track {
        let dt = self.dt(t_ms);
        let f = transition(dt);
        Track {
            x: f * self.x,
            p: f * self.p * f.transpose() + process_noise(dt, side(&self.x)),
            t_ms: t_ms.max(self.t_ms),
        }
    }
}

impl BoxFilter {
    /// An empty filter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the face.
    pub fn reset(&mut self) {
        self.track = None;
    }

    /// The box expected at `t_ms` (ms on the frames' clock); `None` before the first
    /// detection. Does not change the filter: skipped frames only look ahead.
    pub fn predict(&self, t_ms: u64) -> Option<FaceBox> {
        self.track.map(|t| to_box(&t.predicted(t_ms).x))
    }

    /// Takes in a detection at `t_ms` and returns the filtered box. The first detection,
    /// and one too far from the prediction ([`GATE_CENTRE_SIDES`], [`GATE_SIZE_CHANGE`]),
    /// (re)starts the track at exactly that box.
    pub fn update(&mut self, t_ms: u64, detected: FaceBox) -> FaceBox {
        let track = match self.track.map(|t| t.predicted(t_ms)) {
            Some(pred) if !is_jump(&pred.x, detected) => {
                correct(pred, detected, t_ms).unwrap_or_else(|| Track::start(detected, t_ms))
            }
            _ => Track::start(detected, t_ms),
        };
        self.track = Some(track);
        to_box(&track.x)
    }
}

/// Whether `detected` is too far from the predicted state to be the same face.
fn is_jump(pred: &State, detected: FaceBox) -> bool {
    let z = measurement(detected);
    let centre = ((z[0] - pred[0]).powi(2) + (z[1] - pred[1]).powi(2)).sqrt();
    let size_change = |i: usize| (z[i] - pred[i]).abs() > GATE_SIZE_CHANGE * pred[i].max(1.0);
    centre > GATE_CENTRE_SIDES * side(pred) || size_change(2) || size_change(3)
}

/// The Kalman update of `pred` with `detected`; `None` if the numbers went bad (they
/// cannot with positive noise, but a filter in a car does not get to panic or emit NaN).
fn correct(pred: Track, detected: FaceBox, t_ms: u64) -> Option<Track> {
    let h = observation();
    let r = measurement_noise(side(&pred.x));
    let innovation = measurement(detected) - h * pred.x;
    let s = h * pred.p * h.transpose() + r;
    // K = P Hᵀ S⁻¹, computed as (S⁻¹ H P)ᵀ with P and S symmetric.
    let gain = Cholesky::new(s)?.solve(&(h * pred.p)).transpose();
    let x = pred.x + gain * innovation;
    // Joseph form: stays symmetric and positive definite in f32.
    let i_kh = Cov::identity() - gain * h;
    let p = i_kh * pred.p * i_kh.transpose() + gain * r * gain.transpose();
    (x.iter().all(|v| v.is_finite()) && p.iter().all(|v| v.is_finite())).then_some(Track { x, p, t_ms })
}

#[cfg(test)]
mod tests;

//! # vigil-shared
//!
//! The single source of truth shared by the trainer (`host`) and the in-car runtime (`edge`):
//!
//! * [`labels`]: the paper's seven emotion classes and how each dataset's own labels map onto them;
//! * [`dataset`]: the datasets and split protocols a model's manifest names;
//! * [`arch`]: the Table-1 network of Jin, Yang & Wei as plain data, with shape inference and
//!   parameter counting, so the burn model and the ONNX exporter are built from one description;
//! * [`image`] and [`preprocess`]: how a camera frame becomes the model's 48x48 grey input;
//! * [`haar`]: a Viola-Jones face detector that reads OpenCV cascades;
//! * [`policy`]: the pure alert policy that turns smoothed emotion scores into driver alerts;
//! * [`wire`]: the postcard messages the edge emits (alerts, heartbeats, model manifests).
//!
//! The crate is `no_std` + `alloc` so the same code can run on a microcontroller; the default
//! `std` feature adds file helpers (OpenCV XML cascade parsing) and `std::error::Error` impls.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod arch;
pub mod dataset;
pub mod enhancer;
pub mod haar;

pub mod image;
pub mod labels;
pub mod policy;

pub mod preprocess;
pub mod tiff_palette;
pub mod wire;

pub use image::{FaceBox, GrayImage};
pub use labels::Emotion;

/// Side length of the square grey face crop the network takes (paper, Table 1).
pub const INPUT_SIZE: usize = 48;
/// Number of pixels in one network input.
pub const INPUT_PIXELS: usize = INPUT_SIZE * INPUT_SIZE;
/// Number of emotion classes.
pub const NUM_CLASSES: usize = 7;

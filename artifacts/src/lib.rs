//! vigil's files on disk, in one place: what the trainer (`host`) writes and reads and what
//! the runtime (`edge`) reads, so that both agree by construction.
//!
//! - [`image`]: still images as grey frames (every format the workspace decodes, palette
//!   TIFFs, a size guard, the file extensions taken as images);
//! - [`manifest`]: the JSON manifest beside each model (its path, SHA-256, writing the pair,
//!   reading and checking it);
//! - [`enhancer`]: the learned face enhancer's ONNX model and manifest, checked and run;
//! - [`cascade`]: Haar cascade files (OpenCV XML or postcard) with their SHA-256;
//! - [`onnx`]: ONNX models into tract, the one load path of exporter and runtime;
//! - [`files`]: atomic writes;
//! - [`shipped`]: where the models and the face cascade the repository ships are found;
//! - [`data`]: where the research datasets are (`VIGIL_DATA`), for commands and tests.
//!
//! `shared` says what an image, a manifest and a network *are* (`no_std`); this crate is the
//! `std` side that moves them between memory and disk.

pub mod cascade;
pub mod data;
pub mod enhancer;
pub mod files;
pub mod image;
pub mod manifest;
pub mod onnx;
pub mod shipped;

//! The vigil trainer as a library: the `host` binary is a thin CLI over these modules, and the
//! workspace's integration tests call them directly.

pub mod commands;
pub mod data;
pub mod enhance;
pub mod eval;
pub mod export;
pub mod model;
pub mod plot;
pub mod progress;
pub mod train;

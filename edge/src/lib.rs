//! The vigil edge runtime as a library: the `edge` binary is a thin CLI over these modules,
//! and the host-side tests drive them with mock hardware.

pub mod commands;
pub mod config;
pub mod detect;
pub mod inference;
pub mod monitor;
pub mod output;
pub mod source;

#[cfg(test)]
pub(crate) mod alloc_count;

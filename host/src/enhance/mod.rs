//! The learned face enhancer of the paper's preprocessing step 2 (FFA-Net): its burn module
//! ([`network`], built from [`shared::enhancer::FfaSpec`]), the degraded faces it learns from
//! ([`degrade`]), how restoration is measured ([`quality`]) and its training loop ([`train`]).
//!
//! Why a restorer rather than a contrast stretch: CLAHE cannot remove haze veiling, blur,
//! sensor noise or block artefacts, which a driver camera behind a windscreen sees at night
//! and in glare; the enhancer is trained to undo exactly the degradations listed in
//! [`degrade`], and measured against CLAHE and against doing nothing on faces it never saw.

pub mod degrade;
pub mod eval;
pub mod export;
pub mod network;
pub mod quality;
pub mod train;

pub use degrade::Degradation;
pub use network::FfaNet;

pub use shared::enhancer::{to_u8, to_unit};

/// Side of the faces the enhancer restores (the classifier's input).
pub(crate) const SIDE: usize = shared::INPUT_SIZE;

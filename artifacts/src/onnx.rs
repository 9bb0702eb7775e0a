//! ONNX models into tract, one way for the exporter (calibration, checks of what it wrote)
//! and the edge (inference): parsed, given a concrete `[1, c, h, w]` float input, optimised
//! once, runnable.

use std::sync::Arc;

use tract_onnx::prelude::*;

/// Loads an ONNX graph for a fixed `[1, c, h, w]` input, optimised and ready to run.
pub fn load_plan(bytes: &[u8], chw: [usize; 3]) -> TractResult<Arc<TypedRunnableModel>> {
    tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])?
        .with_input_fact(0, f32::fact([1, chw[0], chw[1], chw[2]]).into())?
        .into_optimized()?
        .into_runnable()
}

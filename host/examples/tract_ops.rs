//! Prints the operators tract runs for the fp32 and int8 graphs of a random network and
//! times them: evidence for which ops execute as integer kernels.
use std::time::Instant;

use host::export::{Calibration, FoldedNetwork, WeightScales, build_graphs};
use tract_onnx::prelude::*;

fn main() -> anyhow::Result<()> {
    let net = FoldedNetwork::random(&shared::arch::Architecture::paper(7), 1)?;
    let calib: Vec<Vec<f32>> = (0..8)
        .map(|i| (0..2304).map(|p| ((p * 7 + i * 13) % 256) as f32 / 255.0).collect())
        .collect();
    let (fp32, int8) = build_graphs(&net, &calib, Calibration::MinMax, WeightScales::PerChannel, (0.0, 1.0))?;
    if let Some(dir) = std::env::args().nth(1) {
        std::fs::write(format!("{dir}/random-fp32.onnx"), &fp32)?;
        std::fs::write(format!("{dir}/random-int8.onnx"), &int8)?;
        let logits = host::export::run_tract(&int8, [1, 48, 48], &calib[0])?;
        println!("int8 logits of calibration image 0: {logits:?}");
        let logits = host::export::run_tract(&fp32, [1, 48, 48], &calib[0])?;
        println!("fp32 logits of calibration image 0: {logits:?}");
    }
    for (name, graph) in [("fp32", &fp32), ("int8", &int8)] {
        let model = artifacts::onnx::load_plan(graph, [1, 48, 48])?;
        let mut ops: Vec<String> = model
            .model()
            .nodes()
            .iter()
            .map(|n| format!("{} ({:?})", n.op().name(), n.outputs[0].fact.datum_type))
            .collect();
        ops.dedup();
        println!("{name}: {} nodes\n  {}", ops.len(), ops.join("\n  "));
        let input = Tensor::from_shape(&[1, 1, 48, 48], &calib[0])?;
        for _ in 0..5 {
            model.run(tvec!(input.clone().into()))?;
        }
        let n = 50;
        let t = Instant::now();
        for _ in 0..n {
            model.run(tvec!(input.clone().into()))?;
        }
        println!("{name}: {:.3} ms/image", t.elapsed().as_secs_f64() * 1000.0 / n as f64);
    }
    Ok(())
}

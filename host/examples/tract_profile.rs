//! Time per operator kind for an ONNX model in tract (batch 1, one thread): where the
//! milliseconds of the fp32 and int8 graphs go.
//!
//! Nodes that take over 0.3 ms in the first timed run are also listed by name: that is how
//! fc1's per-run kernel packing and summing showed up (see `export::int8_graph`).
//!
//!   cargo run --release -p host --example tract_profile -- models/vigil-int8.onnx [runs]
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;

use tract_onnx::prelude::*;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().context("usage: tract_profile MODEL.onnx [runs]")?;
    let runs: u32 = args.next().map(|r| r.parse()).transpose()?.unwrap_or(200);
    let model = artifacts::onnx::load_plan(&std::fs::read(&path)?, [1, 48, 48])?;
    let input: Tensor = Tensor::from_shape(&[1, 1, 48, 48], &vec![0.5f32; 48 * 48])?;
    let mut state = model.spawn()?;
    let mut per_kind: BTreeMap<String, (Duration, usize)> = BTreeMap::new();
    for run in 0..runs + 10 {
        state.run_plan_with_eval(tvec!(input.clone().into()), |session, op_state, node, inputs| {
            let start = Instant::now();
            let out = tract_onnx::tract_core::plan::eval(session, op_state, node, inputs);
            if run >= 10 {
                let kind = format!("{} ({:?})", node.op().name(), node.outputs[0].fact.datum_type);
                if run == 10 && start.elapsed() > Duration::from_micros(300) {
                    eprintln!(
                        "slow node {} {kind}: {:?} inputs {:?}",
                        node.name,
                        start.elapsed(),
                        node.inputs
                    );
                }
                let e = per_kind.entry(kind).or_default();
                e.0 += start.elapsed();
                e.1 += 1;
            }
            out
        })?;
    }
    let total: Duration = per_kind.values().map(|(d, _)| *d).sum();
    let mut rows: Vec<_> = per_kind.into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1.0));
    println!("{path}: {:.3} ms per run", total.as_secs_f64() * 1e3 / f64::from(runs));
    for (kind, (time, n)) in rows {
        println!(
            "{:>8.3} ms {:>5.1}% {:>4} x {kind}",
            time.as_secs_f64() * 1e3 / f64::from(runs),
            100.0 * time.as_secs_f64() / total.as_secs_f64(),
            n / runs as usize
        );
    }
    Ok(())
}

//! `host arch`: prints the Table-1 network with inferred shapes and parameter counts, or with
//! `--enhancer` the face enhancer's parts with their parameters and multiply-adds.

use std::fmt::Write;

use shared::arch::{Architecture, INCEPTION_V3_PARAMS};
use shared::enhancer::FfaSpec;

/// Options of `host arch`.
#[derive(Debug, Clone, clap::Args)]
pub struct ArchArgs {
    /// Print the face enhancer (default widths) instead of the classifier.
    #[arg(long)]
    pub enhancer: bool,
}

/// Runs `host arch`.
pub fn run(args: &ArchArgs) -> anyhow::Result<()> {
    let text = if args.enhancer {
        render_enhancer(&FfaSpec::default())?
    } else {
        render(&Architecture::paper(shared::NUM_CLASSES))?
    };
    print!("{text}");
    Ok(())
}

/// The enhancer's parts as a Markdown table with totals, on a 48x48 face.
pub fn render_enhancer(spec: &FfaSpec) -> anyhow::Result<String> {
    let side = shared::INPUT_SIZE;
    let mut out = String::new();
    writeln!(out, "enhancer {spec:?} on a {side}x{side} face")?;
    writeln!(out)?;
    writeln!(out, "| part | parameters | multiply-adds |")?;
    writeln!(out, "|---|---:|---:|")?;
    for part in spec.parts(side, side) {
        writeln!(out, "| {} | {} | {} |", part.name, part.params, part.macs)?;
    }
    writeln!(out)?;
    writeln!(out, "total trainable parameters: {}", spec.num_params())?;
    writeln!(out, "multiply-adds per face: {}", spec.macs(side, side))?;
    Ok(out)
}

/// Renders the architecture as a Markdown table with totals.
pub fn render(arch: &Architecture) -> anyhow::Result<String> {
    let summary = arch.summary()?;
    let total: usize = summary.iter().map(|l| l.params).sum();
    let mut out = String::new();
    writeln!(out, "| layer | output | parameters |")?;
    writeln!(out, "|---|---|---:|")?;
    writeln!(out, "| input | {} | 0 |", arch.input)?;
    for layer in &summary {
        writeln!(out, "| {} | {} | {} |", layer.name, layer.output, layer.params)?;
    }
    writeln!(out)?;
    writeln!(out, "total trainable parameters: {total}")?;
    writeln!(
        out,
        "BatchNorm running statistics (not trained): {}",
        arch.num_batch_norm_buffers()
    )?;
    writeln!(
        out,
        "ratio to Inception V3 ({INCEPTION_V3_PARAMS} parameters): {:.1}%",
        100.0 * total as f64 / INCEPTION_V3_PARAMS as f64
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_every_layer_and_the_total() {
        let arch = Architecture::paper(7);
        let text = render(&arch).unwrap();
        for shape in [
            "48x48x32",
            "48x48x64",
            "24x24x64",
            "12x12x256",
            "6x6x512",
            "3x3x512",
            "| 4608 |",
            "| 7 |",
        ] {
            assert!(text.contains(shape), "missing {shape} in\n{text}");
        }
        let total = arch.num_params().unwrap();
        assert!(text.contains(&format!("total trainable parameters: {total}")));
    }

    #[test]
    fn the_enhancer_table_lists_its_parts_and_totals() {
        let spec = FfaSpec::default();
        let text = render_enhancer(&spec).unwrap();
        for part in ["| head |", "| group1 |", "| group3 |", "| fusion |", "| tail |"] {
            assert!(text.contains(part), "missing {part} in\n{text}");
        }
        assert!(text.contains(&format!("total trainable parameters: {}", spec.num_params())));
        assert!(text.contains(&format!("multiply-adds per face: {}", spec.macs(48, 48))));
    }
}

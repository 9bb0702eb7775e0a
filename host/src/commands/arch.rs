//! `host arch`: prints the Table-1 network with inferred shapes and parameter counts.

use std::fmt::Write;

use shared::arch::{Architecture, INCEPTION_V3_PARAMS};

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
}

//! `host robustness --model FILE`: an exported classifier's accuracy on clean and degraded
//! test faces, through the preparation its manifest names and, with `--add-enhancer`, with a
//! learned enhancer put in front of it (the ablation of the face enhancer).

use std::path::PathBuf;

use anyhow::{Context, Result};
use artifacts::enhancer::Enhancer;
use clap::Args;

use super::held_out::{HeldOutArgs, LoadedModel};
use crate::data::faces::LearnedEnhancer;
use crate::data::{self, DatasetKind, FaceEnhancer};
use crate::enhance::eval::EvalSet;
use crate::eval::robustness::{self, Preparation};

/// Options of `host robustness`.
#[derive(Debug, Clone, Args)]
pub struct RobustnessArgs {
    /// The model and its faces.
    #[command(flatten)]
    pub held_out: HeldOutArgs,
    /// Also measure with this learned enhancer (`host export --enhancer`) run before the
    /// model's classical enhancement, for a model that was not trained behind one.
    #[arg(long)]
    pub add_enhancer: Option<PathBuf>,
    /// The face list, in order: a face's degradation is drawn from its position in it, so the
    /// same list degrades the same faces the same way for every model (the default is the
    /// list `host train-enhancer` reports on).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = vec![DatasetKind::FerPlus, DatasetKind::CkPlus, DatasetKind::Jaffe])]
    pub dataset: Vec<DatasetKind>,
    /// Classify only these datasets' faces (default: every dataset of the list).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<DatasetKind>,
    /// Seed of the degradation draw (`host train-enhancer`'s default).
    #[arg(long, default_value_t = 42)]
    pub degrade_seed: u64,
}

/// Runs `host robustness`.
pub fn run(args: &RobustnessArgs) -> Result<()> {
    let LoadedModel {
        path: model,
        manifest,
        runner,
    } = args.held_out.load_model()?;
    let then = manifest.preprocessing.enhancement;
    let own = robustness::model_enhancer(&model, &manifest)?;
    let added = match &args.add_enhancer {
        None => None,
        Some(path) => {
            anyhow::ensure!(
                manifest.enhancer.is_none(),
                "{} already runs behind its own enhancer ({}); --add-enhancer is for models trained without one",
                model.display(),
                manifest.enhancer.as_ref().map_or("", |e| e.file.as_str())
            );
            let enhancer = Enhancer::load(path).with_context(|| format!("loading the enhancer {}", path.display()))?;
            Some(LearnedEnhancer::new(enhancer, then))
        }
    };

    let config = args.held_out.faces(&manifest, args.dataset.clone())?;
    let splits = data::load_splits(&config).context("loading the clean faces")?;
    let faces = splits.part(args.held_out.split);
    let pixels: Vec<Vec<u8>> = faces.iter().map(|s| s.pixels.clone()).collect();
    let set = EvalSet::new(&pixels, args.degrade_seed);

    let classified = if args.only.is_empty() {
        "all of them classified".to_string()
    } else {
        let names: Vec<&str> = args.only.iter().map(|d| d.name()).collect();
        format!("those of {} classified", names.join(", "))
    };
    println!(
        "# {}: clean and degraded {} faces\n\n{} faces in the list ({} protocol, seed {}; degradation draw {}), {classified}.\n",
        model.display(),
        args.held_out.split.name(),
        faces.len(),
        config.data.protocol.name(),
        manifest.seed,
        args.degrade_seed
    );
    let mut arms: Vec<(&dyn FaceEnhancer, &str)> = vec![(own.as_ref(), "as trained")];
    if let Some(enhancer) = &added {
        arms.push((enhancer, "with the added enhancer"));
    }
    for (enhancer, what) in arms {
        let preparation = Preparation {
            enhancer,
            preprocessing: manifest.preprocessing,
        };
        let started = std::time::Instant::now();
        let rows = robustness::measure(&runner, preparation, faces, &set, &args.only)?;
        println!(
            "## {what}: {}\n\n{}\n({:.0} s)\n",
            enhancer.id(),
            robustness::table(&rows),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

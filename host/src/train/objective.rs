//! What training minimises and how: the loss (cross-entropy against hard or soft targets) and
//! the optimiser of the configured kind.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{ModuleOptimizer, SgdConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::log_softmax;

use super::config::{OptimizerConfig, OptimizerKind};
use super::optim::FusedAdam;

/// A fresh optimiser of the configured kind (Adam and AdamW fused, [`super::optim`]).
pub fn optimizer_for(config: &OptimizerConfig) -> ModuleOptimizer {
    let decay = (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32));
    match config.kind {
        OptimizerKind::Adam => ModuleOptimizer::from(FusedAdam::adam(decay.map(|d| d.penalty))),
        OptimizerKind::AdamW => ModuleOptimizer::from(FusedAdam::adamw(config.weight_decay as f32)),
        OptimizerKind::Sgd => SgdConfig::new()
            .with_weight_decay(decay)
            .with_momentum(Some(
                MomentumConfig::new()
                    .with_momentum(config.momentum)
                    .with_dampening(0.0)
                    .with_nesterov(true),
            ))
            .init(),
    }
}

/// Mean cross-entropy of `logits` against target distributions (`[n, classes]`, rows summing
/// to 1): `-sum(t * log_softmax(logits))` averaged over the batch. With one-hot targets this is
/// the ordinary cross-entropy.
pub fn soft_cross_entropy(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    (targets * log_softmax(logits, 1)).sum_dim(1).mean().neg()
}

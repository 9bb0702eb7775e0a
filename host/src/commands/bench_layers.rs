//! `host bench-train --per-layer`: where a training step's time goes, convolution by
//! convolution and pool by pool.
//!
//! Convolutions hold nearly all of the network's multiply-adds, so each one is timed on its
//! own, at the step's batch size and with the shapes it has in the network: the forward
//! pass, the weight gradient alone (input without a gradient, as for the first layer), and
//! both gradients. Max pools do no arithmetic but touch every activation, so they are timed
//! the same way (forward, input gradient), and their inference forward (no positions kept)
//! in a table of its own. Whatever the step spends elsewhere (BatchNorm,
//! ReLU, concatenation, dense layers, loss, optimiser, copies) is the difference between the
//! whole step and the sum of these rows.

use std::time::Instant;

use anyhow::{Result, bail};
use burn::tensor::{Device, Distribution, Tensor};
use shared::arch::{Architecture, ConvSpec, LayerKind, PoolSpec, Shape};

/// One convolution of the network and the shape it is applied to.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvSite {
    /// Layer name, with branch and position inside Inception blocks (`mixed1 b2.1`).
    pub name: String,
    /// Input channels, rows, columns.
    pub input: [usize; 3],
    /// The convolution.
    pub spec: ConvSpec,
    /// Output rows and columns.
    pub output: [usize; 2],
}

impl ConvSite {
    /// Multiply-adds of one image's forward pass.
    pub fn macs(&self) -> usize {
        let [c, _, _] = self.input;
        let [oh, ow] = self.output;
        c * self.spec.kernel[0] * self.spec.kernel[1] * self.spec.out_channels * oh * ow
    }
}

/// One max pool of the network and the shape it is applied to.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSite {
    /// Layer name, with the branch inside Inception blocks (`inception_a b4`).
    pub name: String,
    /// Input channels, rows, columns.
    pub input: [usize; 3],
    /// The pool.
    pub spec: PoolSpec,
}

fn spatial(shape: Shape) -> Result<[usize; 3]> {
    match shape {
        Shape::Spatial { h, w, c } => Ok([c, h, w]),
        Shape::Flat(_) => bail!("a convolution or pool after the flatten"),
    }
}

/// Every convolution and every max pool of `arch`, each in network order, from one walk.
pub fn sites(arch: &Architecture) -> Result<(Vec<ConvSite>, Vec<PoolSite>)> {
    let conv = |name: String, input: Shape, spec: &ConvSpec| -> Result<(ConvSite, Shape)> {
        let (out, _) = LayerKind::Conv(*spec).infer(&name, input)?;
        let [_, oh, ow] = spatial(out)?;
        let input = spatial(input)?;
        Ok((
            ConvSite {
                name,
                input,
                spec: *spec,
                output: [oh, ow],
            },
            out,
        ))
    };
    let pool = |name: String, input: Shape, spec: &PoolSpec| -> Result<(PoolSite, Shape)> {
        let out = LayerKind::MaxPool(*spec).infer(&name, input)?.0;
        let input = spatial(input)?;
        Ok((
            PoolSite {
                name,
                input,
                spec: *spec,
            },
            out,
        ))
    };
    let (mut convs, mut pools) = (Vec::new(), Vec::new());
    let mut shape = arch.input;
    for layer in &arch.layers {
        match &layer.kind {
            LayerKind::Conv(spec) => convs.push(conv(layer.name.clone(), shape, spec)?.0),
            LayerKind::MaxPool(spec) => pools.push(pool(layer.name.clone(), shape, spec)?.0),
            LayerKind::Inception(branches) => {
                for (b, branch) in branches.iter().enumerate() {
                    let mut s = shape;
                    if let Some(spec) = &branch.pool {
                        let (site, out) = pool(format!("{} b{}", layer.name, b + 1), s, spec)?;
                        pools.push(site);
                        s = out;
                    }
                    for (i, spec) in branch.convs.iter().enumerate() {
                        let (site, out) = conv(format!("{} b{}.{}", layer.name, b + 1, i + 1), s, spec)?;
                        convs.push(site);
                        s = out;
                    }
                }
            }
            _ => {}
        }
        shape = layer.kind.infer(&layer.name, shape)?.0;
    }
    Ok((convs, pools))
}

/// Milliseconds per batch of one convolution's passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvTiming {
    /// Forward, inference mode.
    pub forward: f64,
    /// Weight (and bias) gradient only.
    pub weight_grad: f64,
    /// Input gradient: both gradients minus the weight gradient.
    pub input_grad: f64,
}

/// Least milliseconds of `f` over `repeats` timed calls after one warm-up call: on a shared
/// machine, whose other tenants and stolen time only ever add to a call, the least is the
/// figure that compares between runs.
fn least_ms(repeats: usize, f: &mut dyn FnMut()) -> f64 {
    f();
    (0..repeats.max(1))
        .map(|_| {
            let started = Instant::now();
            f();
            1000.0 * started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Times one convolution at `batch` images: the least of `repeats` calls of each pass.
pub fn time_conv(site: &ConvSite, batch: usize, repeats: usize) -> ConvTiming {
    let device = Device::flex().autodiff();
    let [c, h, w] = site.input;
    let conv = crate::model::network::conv2d(&site.spec, c, &device);
    let x = Tensor::<4>::random([batch, c, h, w], Distribution::Default, &device);
    let least_ms = |f: &mut dyn FnMut()| least_ms(repeats, f);
    let valid = burn::module::Module::valid(&conv);
    let x_valid = x.clone().inner();
    let forward = least_ms(&mut || drop(valid.forward(x_valid.clone())));
    // Backward timings include their own forward; subtract the autodiff forward.
    let autodiff_forward = least_ms(&mut || drop(conv.forward(x.clone())));
    let weight_only = least_ms(&mut || drop(conv.forward(x.clone()).sum().backward())) - autodiff_forward;
    let x_grad = x.clone().require_grad();
    let both = least_ms(&mut || drop(conv.forward(x_grad.clone()).sum().backward())) - autodiff_forward;
    ConvTiming {
        forward,
        weight_grad: weight_only.max(0.0),
        input_grad: (both - weight_only).max(0.0),
    }
}

/// Milliseconds per batch of one max pool's passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolTiming {
    /// Forward, training mode (the winners' positions are kept for the gradient).
    pub forward: f64,
    /// Input gradient.
    pub input_grad: f64,
    /// Forward, inference (no autodiff: no positions kept).
    pub inference: f64,
}

/// Times one max pool at `batch` images: the least of `repeats` calls of each pass.
pub fn time_pool(site: &PoolSite, batch: usize, repeats: usize) -> PoolTiming {
    let device = Device::flex().autodiff();
    let [c, h, w] = site.input;
    let pool = crate::model::network::max_pool2d(&site.spec);
    let x = Tensor::<4>::random([batch, c, h, w], Distribution::Default, &device).require_grad();
    let forward = least_ms(repeats, &mut || drop(pool.forward(x.clone())));
    let both = least_ms(repeats, &mut || drop(pool.forward(x.clone()).sum().backward()));
    let plain = Tensor::<4>::random([batch, c, h, w], Distribution::Default, &Device::flex());
    let inference = least_ms(repeats, &mut || drop(pool.forward(plain.clone())));
    PoolTiming {
        forward,
        input_grad: (both - forward).max(0.0),
        inference,
    }
}

/// Prints the per-convolution table and the share of a measured whole step (`step_ms`, ms
/// per batch) that the convolutions explain.
pub fn print_profile(arch: &Architecture, batch: usize, repeats: usize, step_ms: f64) -> Result<()> {
    let (sites, pool_sites) = sites(arch)?;
    println!(
        "\n| convolution | input (CxHxW) | kernel / stride | forward ms | weight grad ms | input grad ms | total ms | GFLOP/s |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|");
    let mut sum = [0.0f64; 3];
    for site in &sites {
        let t = time_conv(site, batch, repeats);
        let total = t.forward + t.weight_grad + t.input_grad;
        // Forward, weight gradient and input gradient each cost the forward's multiply-adds.
        let gflops = 3.0 * 2.0 * (site.macs() * batch) as f64 / (total * 1e6);
        let [c, h, w] = site.input;
        let (k, s) = (site.spec.kernel, site.spec.stride);
        println!(
            "| {} | {c}x{h}x{w} | {}x{} / {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} |",
            site.name, k[0], k[1], s[0], t.forward, t.weight_grad, t.input_grad, total, gflops
        );
        sum[0] += t.forward;
        sum[1] += t.weight_grad;
        sum[2] += t.input_grad;
    }
    let convs = sum.iter().sum::<f64>();
    println!(
        "| **all convolutions** | | | {:.1} | {:.1} | {:.1} | {:.1} | |",
        sum[0], sum[1], sum[2], convs
    );
    let mut pools = 0.0;
    let mut inference = Vec::new();
    for site in pool_sites {
        let t = time_pool(&site, batch, repeats);
        inference.push((site.name.clone(), t.inference));
        let [c, h, w] = site.input;
        let (k, s) = (site.spec.kernel, site.spec.stride);
        println!(
            "| {} (max pool) | {c}x{h}x{w} | {}x{} / {} | {:.2} | | {:.2} | {:.2} | |",
            site.name,
            k[0],
            k[1],
            s[0],
            t.forward,
            t.input_grad,
            t.forward + t.input_grad
        );
        pools += t.forward + t.input_grad;
    }
    println!(
        "| everything else in a training step (whole step {step_ms:.1} ms) | | | | | | {:.1} | |",
        step_ms - convs - pools
    );
    println!("\n| max pool, inference (no positions) | forward ms |\n|---|---:|");
    for (name, ms) in inference {
        println!("| {name} | {ms:.2} |");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sites_cover_every_convolution_of_the_paper_network() {
        let arch = Architecture::paper(shared::NUM_CLASSES);
        let (sites, _) = sites(&arch).unwrap();
        let conv_params: usize = sites.iter().map(|s| s.spec.params(s.input[0])).sum();
        let dense_params = arch.num_params().unwrap() - conv_params;
        // What remains are the three dense layers: 4608 -> 1024 -> 256 -> 7 (fc1 reads the
        // 512x3x3 pool output).
        assert_eq!(dense_params, 4608 * 1024 + 1024 + 1024 * 256 + 256 + 256 * 7 + 7);
        assert_eq!(sites[0].input, [1, 48, 48]);
    }

    #[test]
    fn the_pool_sites_are_the_two_pool_layers_and_the_inception_pool_branches() {
        let arch = Architecture::paper(shared::NUM_CLASSES);
        let (_, sites) = sites(&arch).unwrap();
        let names: Vec<_> = sites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["maxpool1", "inception_a b4", "inception_b b4", "maxpool2"]);
        assert_eq!(sites[0].input, [64, 48, 48]);
        assert_eq!(sites[3].input, [512, 6, 6]);
    }
}

//! The burn module of [`FfaSpec`]: the module tree follows the spec's parts (head, groups of
//! blocks, fusion, tail), so checkpoint paths and the exporter's walk name the same things.

use burn::module::{Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shared::enhancer::FfaSpec;

use super::{to_u8, to_unit};

/// A same-size convolution with a bias (`k` 1 or 3), weights and bias uniform in
/// `±sqrt(1 / fan_in)` (burn's default distribution) drawn from `rng`: the process-wide device
/// RNG would make the initial weights depend on whatever else draws from it concurrently.
fn conv(k: usize, cin: usize, cout: usize, device: &Device, rng: &mut ChaCha8Rng) -> Conv2d {
    let p = k / 2;
    let mut conv = Conv2dConfig::new([cin, cout], [k, k])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .init(device);
    let bound = (1.0 / (cin * k * k) as f64).sqrt() as f32;
    let mut uniform = |shape: Vec<usize>| {
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..=bound)).collect();
        TensorData::new(values, shape)
    };
    conv.weight = Param::from_tensor(Tensor::from_data(uniform(vec![cout, cin, k, k]), device));
    conv.bias = Some(Param::from_tensor(Tensor::from_data(uniform(vec![cout]), device)));
    conv
}

/// Channel attention: a weight per channel from the channel's mean.
#[derive(Module, Debug)]
pub struct ChannelAttention {
    /// 1x1 squeeze.
    pub down: Conv2d,
    /// 1x1 back to the channels.
    pub up: Conv2d,
}

impl ChannelAttention {
    fn new(channels: usize, squeezed: usize, device: &Device, rng: &mut ChaCha8Rng) -> Self {
        Self {
            down: conv(1, channels, squeezed, device, rng),
            up: conv(1, squeezed, channels, device, rng),
        }
    }

    /// The weights, `[n, c, 1, 1]`, in 0..1.
    fn weights(&self, x: Tensor<4>) -> Tensor<4> {
        let pooled = x.mean_dim(2).mean_dim(3);
        sigmoid(self.up.forward(relu(self.down.forward(pooled))))
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let w = self.weights(x.clone());
        x * w
    }
}

/// Pixel attention: a weight per pixel from all channels there.
#[derive(Module, Debug)]
pub struct PixelAttention {
    /// 1x1 squeeze.
    pub down: Conv2d,
    /// 1x1 to one map.
    pub up: Conv2d,
}

impl PixelAttention {
    fn new(channels: usize, squeezed: usize, device: &Device, rng: &mut ChaCha8Rng) -> Self {
        Self {
            down: conv(1, channels, squeezed, device, rng),
            up: conv(1, squeezed, 1, device, rng),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let w = sigmoid(self.up.forward(relu(self.down.forward(x.clone()))));
        x * w
    }
}

/// One FA block: conv-ReLU with a residual, conv, channel then pixel attention, residual.
#[derive(Module, Debug)]
pub struct FaBlock {
    /// First 3x3.
    pub conv1: Conv2d,
    /// Second 3x3.
    pub conv2: Conv2d,
    /// Channel attention.
    pub ca: ChannelAttention,
    /// Pixel attention.
    pub pa: PixelAttention,
}

impl FaBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let r = relu(self.conv1.forward(x.clone())) + x.clone();
        let r = self.pa.forward(self.ca.forward(self.conv2.forward(r)));
        r + x
    }
}

/// A group: blocks, a 3x3 convolution, and a residual over the whole group.
#[derive(Module, Debug)]
pub struct Group {
    /// The FA blocks.
    pub blocks: Vec<FaBlock>,
    /// The closing 3x3.
    pub conv: Conv2d,
}

impl Group {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let r = self.blocks.iter().fold(x.clone(), |r, b| b.forward(r));
        self.conv.forward(r) + x
    }
}

/// The enhancer: grey face in (`[n, 1, h, w]`, 0..1), restored face out (not clamped; see
/// [`FfaNet::restore`]).
#[derive(Module, Debug)]
pub struct FfaNet {
    /// 1 -> channels.
    pub head: Conv2d,
    /// The groups.
    pub groups: Vec<Group>,
    /// Attention over the groups' outputs side by side.
    pub fusion: ChannelAttention,
    /// Pixel attention on the fused maps.
    pub fusion_pa: PixelAttention,
    /// channels -> channels.
    pub tail1: Conv2d,
    /// channels -> 1 (zero at initialisation: the untrained network is the identity).
    pub tail2: Conv2d,
}

impl FfaNet {
    /// A freshly initialised network of `spec`'s widths, the same for a seed whatever else
    /// runs (see `conv`); the last convolution starts at zero.
    pub fn new(spec: &FfaSpec, device: &Device, seed: u64) -> Self {
        let rng = &mut ChaCha8Rng::seed_from_u64(seed);
        let (c, s) = (spec.channels, spec.squeezed());
        let head = conv(3, 1, c, device, rng);
        let groups = (0..spec.groups)
            .map(|_| Group {
                blocks: (0..spec.blocks)
                    .map(|_| FaBlock {
                        conv1: conv(3, c, c, device, rng),
                        conv2: conv(3, c, c, device, rng),
                        ca: ChannelAttention::new(c, s, device, rng),
                        pa: PixelAttention::new(c, s, device, rng),
                    })
                    .collect(),
                conv: conv(3, c, c, device, rng),
            })
            .collect();
        let fusion = ChannelAttention::new(spec.groups * c, spec.fusion_squeezed(), device, rng);
        let fusion_pa = PixelAttention::new(c, s, device, rng);
        let tail1 = conv(3, c, c, device, rng);
        let mut tail2 = conv(3, c, 1, device, rng);
        tail2.weight = Param::from_tensor(Tensor::zeros([1, c, 3, 3], device));
        tail2.bias = Some(Param::from_tensor(Tensor::zeros([1], device)));
        Self {
            head,
            groups,
            fusion,
            fusion_pa,
            tail1,
            tail2,
        }
    }

    /// The restored faces, unclamped (training compares them to the clean faces as they are).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut r = self.head.forward(x.clone());
        let mut outs = Vec::with_capacity(self.groups.len());
        for g in &self.groups {
            r = g.forward(r);
            outs.push(r.clone());
        }
        let c = r.dims()[1];
        let w = self.fusion.weights(Tensor::cat(outs.clone(), 1));
        let fused = outs
            .into_iter()
            .enumerate()
            .map(|(i, o)| o * w.clone().narrow(1, i * c, c))
            .reduce(|a, b| a + b)
            .expect("at least one group");
        let y = self.tail2.forward(self.tail1.forward(self.fusion_pa.forward(fused)));
        y + x
    }

    /// Restores `n` 8-bit faces of `h x w` (row-major, one after another): the network's
    /// output clamped to 0..1 and rounded back to 8 bits.
    pub fn restore(&self, faces: &[u8], n: usize, h: usize, w: usize, device: &Device) -> Vec<u8> {
        let x = faces_tensor(faces, n, h, w, device);
        self.forward(x).into_data().iter::<f32>().map(to_u8).collect()
    }
}

/// `n` 8-bit `h x w` grey faces (row-major, one after another) as the network's `[n, 1, h, w]`
/// input on the 0..1 scale.
pub fn faces_tensor(faces: &[u8], n: usize, h: usize, w: usize, device: &Device) -> Tensor<4> {
    let x: Vec<f32> = faces.iter().map(|&p| to_unit(p)).collect();
    Tensor::from_data(TensorData::new(x, [n, 1, h, w]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;

    #[test]
    fn the_module_has_the_spec_s_parameters_and_starts_as_the_identity() {
        let device = Device::flex();
        let spec = FfaSpec::default();
        let net = FfaNet::new(&spec, &device, 1);
        assert_eq!(net.num_params(), spec.num_params());
        let faces: Vec<u8> = (0..2 * 48 * 48).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(net.restore(&faces, 2, 48, 48, &device), faces);
    }
}

//! The face enhancer of the paper's preprocessing step 2 (FFA-Net, Qin et al. 2020: feature
//! fusion attention) as data, sized for 48x48 grey faces on an in-car board.
//!
//! The trainer (host) builds its burn module from an [`FfaSpec`] and the exporter walks the
//! same spec, so the two cannot disagree about the network; [`FfaSpec::parts`] gives each
//! part's parameters and multiply-adds for `host arch --enhancer`.
//!
//! The network, following FFA-Net's reference design with every width a field here:
//! * a 3x3 head convolution from the grey input to `channels` feature maps;
//! * `groups` groups, each of `blocks` FA blocks and a 3x3 convolution, with a residual from
//!   the group's input to its output. An FA block is `conv3x3 -> ReLU -> (+ input) ->
//!   conv3x3 -> channel attention -> pixel attention -> (+ input)`;
//! * channel attention: global average, 1x1 down to `channels / reduction`, ReLU, 1x1 back
//!   up, sigmoid, scale each channel; pixel attention: 1x1 down, ReLU, 1x1 to one map,
//!   sigmoid, scale each pixel;
//! * fusion: channel attention over the groups' outputs side by side gives one weight per
//!   group and channel; the weighted sum goes through pixel attention;
//! * two 3x3 convolutions back to one channel, added to the input (global residual), so a
//!   network that learns nothing passes the face through unchanged.
//!
//! Every convolution has a bias and keeps the size (padding 1 for 3x3); there is no
//! BatchNorm, as in FFA-Net.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

/// An 8-bit grey value on the 0..1 scale the enhancer reads and writes.
pub fn to_unit(p: u8) -> f32 {
    f32::from(p) / 255.0
}

/// A 0..1 value back to 8 bits: clamped, then rounded (NaN gives 0).
pub fn to_u8(v: f32) -> u8 {
    // `round` is std-only; adding 0.5 before the truncating cast rounds half up the same way
    // for the non-negative values left after the clamp.
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// Widths of an FFA-style enhancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FfaSpec {
    /// Feature maps of every convolution inside the network.
    pub channels: usize,
    /// Groups of FA blocks.
    pub groups: usize,
    /// FA blocks per group.
    pub blocks: usize,
    /// Channel and pixel attention squeeze `channels` to `channels / reduction` (at least 1).
    pub reduction: usize,
}

impl Default for FfaSpec {
    /// The shipped size: 8 maps, 3 groups of 2 blocks (about 21 M multiply-adds on a 48x48
    /// face, a few milliseconds on a Cortex-A72 core).
    fn default() -> Self {
        FfaSpec {
            channels: 8,
            groups: 3,
            blocks: 2,
            reduction: 4,
        }
    }
}

/// An [`FfaSpec`] with a zero width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every width of the enhancer must be at least 1: {0:?}")]
pub struct FfaSpecError(pub FfaSpec);

/// One part of the enhancer with its cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FfaPart {
    /// `head`, `group1`, ..., `fusion`, `tail`.
    pub name: String,
    /// Trainable parameters (weights and biases).
    pub params: usize,
    /// Multiply-adds per `h x w` face.
    pub macs: usize,
}

/// A convolution's parameters and multiply-adds per output pixel.
const fn conv(k: usize, cin: usize, cout: usize) -> (usize, usize) {
    (k * k * cin * cout + cout, k * k * cin * cout)
}

impl FfaSpec {
    /// Width inside the attention layers.
    pub fn squeezed(&self) -> usize {
        (self.channels / self.reduction.max(1)).max(1)
    }

    /// Checks that every width is at least one.
    pub fn validate(&self) -> Result<(), FfaSpecError> {
        if self.channels == 0 || self.groups == 0 || self.blocks == 0 || self.reduction == 0 {
            return Err(FfaSpecError(*self));
        }
        Ok(())
    }

    /// Parameters and multiply-adds of each part on an `h x w` face.
    pub fn parts(&self, h: usize, w: usize) -> Vec<FfaPart> {
        let (c, s, pixels) = (self.channels, self.squeezed(), h * w);
        let add = |acc: &mut (usize, usize), (p, m): (usize, usize), per: usize| {
            acc.0 += p;
            acc.1 += m * per;
        };
        // Channel attention on `n` maps: two 1x1 convs on the pooled vector, then a scale.
        let channel_attention = |n: usize, squeeze: usize| {
            let (p1, m1) = conv(1, n, squeeze);
            let (p2, m2) = conv(1, squeeze, n);
            (p1 + p2, m1 + m2 + n * pixels)
        };
        let pixel_attention = || {
            let (p1, m1) = conv(1, c, s);
            let (p2, m2) = conv(1, s, 1);
            (p1 + p2, (m1 + m2 + c) * pixels)
        };
        let mut parts = Vec::new();
        let mut head = (0, 0);
        add(&mut head, conv(3, 1, c), pixels);
        parts.push(("head".into(), head));
        for g in 0..self.groups {
            let mut group = (0, 0);
            for _ in 0..self.blocks {
                add(&mut group, conv(3, c, c), pixels);
                add(&mut group, conv(3, c, c), pixels);
                add(&mut group, channel_attention(c, s), 1);
                add(&mut group, pixel_attention(), 1);
            }
            add(&mut group, conv(3, c, c), pixels);
            parts.push((format!("group{}", g + 1), group));
        }
        let gc = self.groups * c;
        let mut fusion = (0, 0);
        add(
            &mut fusion,
            channel_attention(gc, (gc / self.reduction.max(1)).max(1)),
            1,
        );
        add(&mut fusion, pixel_attention(), 1);
        parts.push(("fusion".into(), fusion));
        let mut tail = (0, 0);
        add(&mut tail, conv(3, c, c), pixels);
        add(&mut tail, conv(3, c, 1), pixels);
        parts.push(("tail".into(), tail));
        parts
            .into_iter()
            .map(|(name, (params, macs))| FfaPart { name, params, macs })
            .collect()
    }

    /// Trainable parameters.
    pub fn num_params(&self) -> usize {
        self.parts(1, 1).iter().map(|p| p.params).sum()
    }

    /// Multiply-adds per `h x w` face.
    pub fn macs(&self, h: usize, w: usize) -> usize {
        self.parts(h, w).iter().map(|p| p.macs).sum()
    }

    /// Width of the fusion attention's squeeze.
    pub fn fusion_squeezed(&self) -> usize {
        (self.groups * self.channels / self.reduction.max(1)).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_by_hand() {
        // channels 4, one group of one block, reduction 2 (squeeze 2; fusion squeeze 2).
        let spec = FfaSpec {
            channels: 4,
            groups: 1,
            blocks: 1,
            reduction: 2,
        };
        let conv3 = |cin: usize, cout: usize| 9 * cin * cout + cout;
        let conv1 = |cin: usize, cout: usize| cin * cout + cout;
        let ca = conv1(4, 2) + conv1(2, 4);
        let pa = conv1(4, 2) + conv1(2, 1);
        let expected = conv3(1, 4) + (2 * conv3(4, 4) + ca + pa + conv3(4, 4)) + (ca + pa) + conv3(4, 4) + conv3(4, 1);
        assert_eq!(spec.num_params(), expected);
        let names: Vec<String> = spec.parts(2, 2).into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["head", "group1", "fusion", "tail"]);
        // Multiply-adds scale with the pixels, except the attention's pooled 1x1 convs.
        let (one, four) = (spec.macs(1, 1), spec.macs(2, 2));
        let pooled = 2 * (4 * 2 + 2 * 4);
        assert_eq!(four - pooled, 4 * (one - pooled));
    }

    #[test]
    fn the_default_fits_an_edge_budget() {
        let spec = FfaSpec::default();
        spec.validate().unwrap();
        let macs = spec.macs(crate::INPUT_SIZE, crate::INPUT_SIZE);
        assert!((15_000_000..30_000_000).contains(&macs), "{macs}");
        assert!(spec.num_params() < 20_000, "{}", spec.num_params());
        assert!(FfaSpec { groups: 0, ..spec }.validate().is_err());
    }
}

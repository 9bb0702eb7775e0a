//! The paper's Table-1 network, written out layer by layer (the reading of the table is in
//! the parent module's doc).

use alloc::vec;

use super::{Architecture, Branch, ConvSpec, Layer, LayerKind, PoolSpec, Shape};

impl Architecture {
    /// The paper's Table-1 network for 48x48x1 input and `classes` outputs.
    pub fn paper(classes: usize) -> Self {
        let c = ConvSpec::new;
        let pool3 = PoolSpec::new(3, 2, 1);
        let inception_a = vec![
            Branch {
                pool: None,
                convs: vec![c(64, 1, 1, 2)],
            },
            Branch {
                pool: None,
                convs: vec![c(48, 1, 1, 1), c(64, 3, 3, 2)],
            },
            Branch {
                pool: None,
                convs: vec![c(64, 1, 1, 1), c(96, 3, 3, 1), c(96, 3, 3, 2)],
            },
            Branch {
                pool: Some(pool3),
                convs: vec![c(32, 1, 1, 1)],
            },
        ];
        let inception_b = vec![
            Branch {
                pool: None,
                convs: vec![c(128, 1, 1, 2)],
            },
            Branch {
                pool: None,
                convs: vec![c(96, 1, 1, 1), c(96, 1, 3, 1), c(128, 3, 1, 2)],
            },
            Branch {
                pool: None,
                convs: vec![
                    c(96, 1, 1, 1),
                    c(96, 3, 1, 1),
                    c(96, 1, 3, 1),
                    c(96, 3, 1, 1),
                    c(128, 1, 3, 2),
                ],
            },
            Branch {
                pool: Some(pool3),
                convs: vec![c(128, 1, 1, 1)],
            },
        ];
        let layer = Layer::new;
        Architecture {
            input: Shape::Spatial {
                h: crate::INPUT_SIZE,
                w: crate::INPUT_SIZE,
                c: 1,
            },
            layers: vec![
                layer("conv1", LayerKind::Conv(c(32, 3, 3, 1)), 0.0),
                layer("conv2", LayerKind::Conv(c(64, 3, 3, 1)), 0.0),
                layer("maxpool1", LayerKind::MaxPool(PoolSpec::new(2, 2, 0)), 0.25),
                layer("inception_a", LayerKind::Inception(inception_a), 0.0),
                layer("inception_b", LayerKind::Inception(inception_b), 0.0),
                layer("maxpool2", LayerKind::MaxPool(PoolSpec::new(2, 2, 0)), 0.0),
                layer("flatten", LayerKind::Flatten, 0.0),
                layer(
                    "fc1",
                    LayerKind::Dense {
                        units: 1024,
                        relu: true,
                    },
                    0.25,
                ),
                layer("fc2", LayerKind::Dense { units: 256, relu: true }, 0.25),
                layer(
                    "output",
                    LayerKind::Dense {
                        units: classes,
                        relu: false,
                    },
                    0.0,
                ),
            ],
        }
    }
}

use super::*;

#[test]
fn table1_shapes() {
    let arch = Architecture::paper(7);
    let shapes: Vec<Shape> = arch.summary().unwrap().iter().map(|l| l.output).collect();
    let s = |h, w, c| Shape::Spatial { h, w, c };
    assert_eq!(
        shapes,
        [
            s(48, 48, 32),
            s(48, 48, 64),
            s(24, 24, 64),
            s(12, 12, 256),
            s(6, 6, 512),
            s(3, 3, 512),
            Shape::Flat(4608),
            Shape::Flat(1024),
            Shape::Flat(256),
            Shape::Flat(7),
        ]
    );
}

#[test]
fn parameter_count_is_the_sum_of_known_layers() {
    let arch = Architecture::paper(7);
    let summary = arch.summary().unwrap();
    // conv1: 3*3*1*32 weights + 32 BN scale + 32 BN shift.
    assert_eq!(summary[0].params, 288 + 64);
    assert_eq!(summary[1].params, 3 * 3 * 32 * 64 + 128);
    assert_eq!(summary[7].params, 4608 * 1024 + 1024);
    assert_eq!(summary[9].params, 256 * 7 + 7);
    let total = arch.num_params().unwrap();
    assert_eq!(total, summary.iter().map(|l| l.params).sum::<usize>());
    // Lightweight: well under Inception V3.
    assert!(total < INCEPTION_V3_PARAMS / 3, "{total}");
}

#[test]
fn bad_architectures_are_errors_not_panics() {
    let mut arch = Architecture::paper(7);
    arch.layers.remove(6); // no flatten before fc1
    assert!(matches!(arch.summary(), Err(ArchError::WrongRank { .. })));
    let tiny = Architecture {
        input: Shape::Spatial { h: 1, w: 1, c: 1 },
        ..Architecture::paper(7)
    };
    assert!(matches!(tiny.summary(), Err(ArchError::WindowTooLarge { .. })));
}

#[test]
fn each_branch_convolution_reads_the_previous_ones_outputs() {
    let arch = Architecture::paper(7);
    let LayerKind::Inception(branches) = &arch.layers[3].kind else {
        panic!("layer 3 is Inception-A: {:?}", arch.layers[3].name)
    };
    // Inception-A reads conv2's 64 channels; its third branch is 1x1 64 -> 3x3 96 -> 3x3 96.
    let inputs: Vec<(usize, usize)> = branches[2]
        .convs_with_inputs(64)
        .map(|(spec, c)| (c, spec.out_channels))
        .collect();
    assert_eq!(inputs, [(64, 64), (64, 96), (96, 96)]);
    let params: usize = branches[2].convs_with_inputs(64).map(|(spec, c)| spec.params(c)).sum();
    let (_, all) = arch.layers[3]
        .kind
        .infer("inception_a", Shape::Spatial { h: 24, w: 24, c: 64 })
        .unwrap();
    let others: usize = [0, 1, 3]
        .iter()
        .flat_map(|&b| branches[b].convs_with_inputs(64))
        .map(|(spec, c)| spec.params(c))
        .sum();
    assert_eq!(params + others, all);
}

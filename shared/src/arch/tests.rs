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

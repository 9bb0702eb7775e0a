use super::*;

/// A small deterministic generator of jitter in -amp..=amp.
struct Jitter(u64);

impl Jitter {
    fn next(&mut self, amp: i32) -> i32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % (2 * amp as u64 + 1)) as i32 - amp
    }
}

fn std_dev(v: &[f32]) -> f32 {
    let mean = v.iter().sum::<f32>() / v.len() as f32;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / v.len() as f32).sqrt()
}

#[test]
fn a_static_box_stays_exact() {
    let mut f = BoxFilter::new();
    assert_eq!(f.predict(0), None);
    for b in [FaceBox::new(100, 60, 100, 100), FaceBox::new(-3, 7, 31, 45)] {
        f.reset();
        for i in 0..50u64 {
            let t = i * 100;
            assert_eq!(f.update(t, b), b, "detection at {t}");
            assert_eq!(f.predict(t + 33), Some(b));
            assert_eq!(f.predict(t + 67), Some(b));
        }
    }
}

#[test]
fn constant_velocity_is_predicted_on_skipped_frames() {
    // 30 fps, detections on every 3rd frame; the face moves 90 px/s right, 45 px/s
    // up, and grows 15 px/s.
    let truth = |t: u64| {
        let s = t as f32 / 1000.0;
        FaceBox::new(
            (200.0 + 90.0 * s).round() as i32,
            (150.0 - 45.0 * s).round() as i32,
            (120.0 + 15.0 * s).round() as u32,
            (120.0 + 15.0 * s).round() as u32,
        )
    };
    let error = |got: FaceBox, want: FaceBox| {
        [
            got.x - want.x,
            got.y - want.y,
            got.w as i32 - want.w as i32,
            got.h as i32 - want.h as i32,
        ]
        .map(i32::abs)
        .into_iter()
        .max()
        .unwrap()
    };
    let mut f = BoxFilter::new();
    let (mut filtered, mut held) = (0, 0);
    let mut last = None;
    for frame in 0..60u64 {
        let t = frame * 100 / 3;
        let want = truth(t);
        let got = if frame % 3 == 0 {
            last = Some(want);
            f.update(t, want)
        } else {
            f.predict(t).unwrap()
        };
        // After 5 detections (0.5 s) the velocity is learnt.
        if frame >= 15 {
            filtered = filtered.max(error(got, want));
            held = held.max(error(last.unwrap(), want));
        }
    }
    assert!(filtered <= 2, "off by {filtered} px after 5 detections");
    assert!(held >= 5, "holding the last box lags by {held} px");
}

#[test]
fn jitter_of_a_still_face_is_reduced() {
    // A 200 px face; centre jitter ~1% of the side, size ~2% (the noise assumed above).
    let still = FaceBox::new(220, 140, 200, 200);
    let mut jitter = Jitter(7);
    let mut f = BoxFilter::new();
    let (mut raw, mut filtered) = (Vec::new(), Vec::new());
    let (mut raw_w, mut filtered_w) = (Vec::new(), Vec::new());
    for i in 0..400u64 {
        let d = jitter.next(6);
        let b = FaceBox::new(
            still.x + jitter.next(3) - d / 2,
            still.y + jitter.next(3) - d / 2,
            (still.w as i32 + d) as u32,
            (still.h as i32 + d) as u32,
        );
        let out = f.update(i * 100, b);
        if i >= 20 {
            raw.push(b.x as f32 + b.w as f32 / 2.0);
            filtered.push(out.x as f32 + out.w as f32 / 2.0);
            raw_w.push(b.w as f32);
            filtered_w.push(out.w as f32);
        }
    }
    let (r, f) = (std_dev(&raw), std_dev(&filtered));
    eprintln!("centre spread {f} vs raw {r}");
    assert!(r > 1.5, "the test's jitter is real: {r}");
    assert!(f < 0.85 * r, "centre spread {f} vs raw {r}");
    let (r, f) = (std_dev(&raw_w), std_dev(&filtered_w));
    eprintln!("size spread {f} vs raw {r}");
    assert!(f < 0.7 * r, "size spread {f} vs raw {r}");
}

#[test]
fn a_jump_reinitialises() {
    let a = FaceBox::new(100, 100, 120, 120);
    let mut f = BoxFilter::new();
    for i in 0..10 {
        f.update(i * 100, a);
    }
    // Centre moved by more than the side: a different face, taken as it is.
    let far = FaceBox::new(300, 110, 120, 120);
    assert_eq!(f.update(1000, far), far);
    assert_eq!(f.predict(1100), Some(far), "and not moving");
    // Same place, size changed by more than half.
    let big = FaceBox::new(270, 80, 190, 190);
    assert_eq!(f.update(1100, big), big);
    // Once settled there, a small move is blended, not taken as it is.
    for i in 1..6 {
        assert_eq!(f.update(1100 + i * 100, big), big);
    }
    let near = FaceBox::new(280, 85, 190, 190);
    let got = f.update(1700, near);
    assert_ne!(got, near);
    assert!(got.x > big.x && got.x < near.x, "{got:?}");
}

#[test]
fn equal_and_backward_timestamps_are_harmless() {
    let mut f = BoxFilter::new();
    let a = FaceBox::new(50, 40, 80, 80);
    let b = FaceBox::new(54, 42, 82, 82);
    f.update(1000, a);
    for (t, m) in [(1000, b), (1000, a), (900, b), (0, a), (u64::MAX, b), (5, a)] {
        let got = f.update(t, m);
        assert!(got.w >= 1 && got.h >= 1);
        assert!((got.x - 50).abs() < 10 && (got.y - 40).abs() < 10, "{got:?} at {t}");
        for p in [0, t, t.saturating_add(1), u64::MAX] {
            let p = f.predict(p).unwrap();
            assert!((p.x - 50).abs() < 40 && (p.w as i32 - 80).abs() < 40, "{p:?}");
        }
    }
    assert!(f.track.unwrap().x.iter().all(|v| v.is_finite()));
    assert!(f.track.unwrap().p.iter().all(|v| v.is_finite()));
}

#[test]
fn sides_stay_at_least_one() {
    let mut x = State::zeros();
    x.fixed_rows_mut::<M>(0).copy_from(&Meas::new(10.0, 20.0, -3.0, 0.2));
    assert_eq!(to_box(&x), FaceBox::new(10, 20, 1, 1));
    // A face shrinking fast, extrapolated far: still a box.
    let mut f = BoxFilter::new();
    for (i, s) in [8u32, 6, 4, 3, 2].into_iter().enumerate() {
        f.update(i as u64 * 100, FaceBox::new(0, 0, s, s));
    }
    let p = f.predict(10_000).unwrap();
    assert!(p.w >= 1 && p.h >= 1, "{p:?}");
}

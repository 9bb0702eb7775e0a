//! Fuzzing every parser of outside bytes, for a bounded time each: wire frames, image files
//! (palette TIFF included), OpenCV XML and postcard cascades, model manifests, `edge.toml`,
//! raw grey frames on stdin.
//!
//! One file for all targets: they share the mutator and the counting allocator, which is the
//! test binary's `#[global_allocator]` and so exists once per binary.
//!
//! cargo-fuzz needs the `libfuzzer-sys` crate, which cannot be fetched here, so the targets
//! run under proptest's generators instead: structure-aware ones that start from a valid
//! input (a real wire frame, a palette TIFF, the shipped cascade, a manifest, `edge.toml`)
//! and mutate it (bit flips, byte overwrites, inserted, deleted and duplicated runs,
//! truncation, numbers swapped for extreme ones), plus plain random bytes. Each target must
//! never panic, never allocate more than its input can justify (checked by a counting
//! allocator: the largest single allocation, where the format bounds it), and, where a
//! parse succeeds, give something the rest of the pipeline can use without panicking.
//!
//! Budget: `VIGIL_FUZZ_SECS` seconds per target (default 5; CI sets 20), inputs from a fixed
//! seed (`VIGIL_FUZZ_SEED`, default 0), so a failure reproduces. Each target prints how many
//! inputs it tried (and appends it to `$VIGIL_FUZZ_REPORT` if set); a crash prints the seed,
//! the input number and the input.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use edge::config::EdgeConfig;
use edge::source::FrameSource;
use edge::source::stdin::RawGreySource;
use shared::haar::{Cascade, DetectParams};
use shared::policy::Policy;
use shared::wire::{
    AlertEvent, AlertKind, AlertPhase, EmotionScores, FrameDecoder, Heartbeat, Message, ModelManifest, Packet,
    WIRE_VERSION, decode_frame, encode_frame,
};
use shared::{FaceBox, GrayImage, INPUT_PIXELS};

// ---------------------------------------------------------------------------------------
// The allocator: the largest single allocation of this thread since the last reset.

struct Largest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every call is forwarded unchanged to `System`; the counter only observes.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// Runs `f` and returns the largest single allocation it made.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.with(|l| l.set(0));
    f();
    LARGEST.with(|l| l.get())
}

// ---------------------------------------------------------------------------------------
// The driver.

fn budget() -> Duration {
    let secs = std::env::var("VIGIL_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(5.0);
    Duration::from_secs_f64(secs)
}

/// Feeds inputs from `strategy` to `target` until the budget is spent; panics (failing the
/// test) with the reproduction details if the target panics.
fn fuzz<S: Strategy>(name: &str, strategy: S, mut target: impl FnMut(&S::Value))
where
    S::Value: std::fmt::Debug,
{
    let seed: u64 = std::env::var("VIGIL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    for (i, b) in name.bytes().enumerate() {
        key[8 + i % 24] ^= b;
    }
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let (start, budget) = (Instant::now(), budget());
    let mut n = 0u64;
    while start.elapsed() < budget {
        let input = strategy.new_tree(&mut runner).expect("strategy").current();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(&input))) {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let shown = format!("{input:?}");
            panic!(
                "fuzz {name}: crash on input {n} (VIGIL_FUZZ_SEED={seed}): {what}\ninput: {}",
                &shown[..shown.len().min(4000)]
            );
        }
        n += 1;
    }
    let line = format!(
        "fuzz {name}: {n} inputs in {:.1} s, no crash",
        start.elapsed().as_secs_f64()
    );
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("VIGIL_FUZZ_REPORT") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("fuzz report file");
        writeln!(f, "{line}").expect("fuzz report written");
    }
}

/// One mutation of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Duplicate(usize, usize, usize),
    Truncate(usize),
    /// Overwrites 4 bytes (little-endian) with an extreme value.
    Extreme(usize, u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    let extreme = prop_oneof![
        Just(0u32),
        Just(1),
        Just(0x7FFF_FFFF),
        Just(0x8000_0000),
        Just(u32::MAX),
        Just(0xFFFF),
        Just(0x1_0000)
    ];
    prop_oneof![
        4 => (at, 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        3 => (at, any::<u8>()).prop_map(|(i, v)| Mutation::Set(i, v)),
        1 => (at, prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => (at, 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (at, 1usize..64, at).prop_map(|(i, n, j)| Mutation::Duplicate(i, n, j)),
        1 => at.prop_map(Mutation::Truncate),
        2 => (at, extreme).prop_map(|(i, v)| Mutation::Extreme(i, v)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    if len == 0 {
        if let Mutation::Insert(_, v) = m {
            bytes.extend_from_slice(v);
        }
        return;
    }
    match m {
        Mutation::FlipBit(i, b) => bytes[i % len] ^= 1 << b,
        Mutation::Set(i, v) => bytes[i % len] = *v,
        Mutation::Insert(i, v) => {
            let at = i % (len + 1);
            bytes.splice(at..at, v.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let at = i % len;
            bytes.drain(at..(at + n).min(len));
        }
        Mutation::Duplicate(i, n, j) => {
            let from = i % len;
            let run: Vec<u8> = bytes[from..(from + n).min(len)].to_vec();
            let at = j % (len + 1);
            bytes.splice(at..at, run);
        }
        Mutation::Truncate(i) => bytes.truncate(i % len),
        Mutation::Extreme(i, v) => {
            let at = i % len;
            for (k, b) in v.to_le_bytes().iter().enumerate() {
                if at + k < len {
                    bytes[at + k] = *b;
                }
            }
        }
    }
}

/// Inputs made from `seeds` by 1-8 mutations, or (one in five) random bytes.
fn mutants(seeds: Vec<Vec<u8>>, max_random: usize) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    prop_oneof![
        4 => (0..n, prop::collection::vec(mutation(), 1..8)).prop_map(move |(s, ms)| {
            let mut bytes = seeds[s].clone();
            ms.iter().for_each(|m| apply(&mut bytes, m));
            bytes
        }),
        1 => prop::collection::vec(any::<u8>(), 0..max_random),
    ]
}

/// Numbers a text format may be handed where a small one is expected.
const EXTREME_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1e9",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "1e308",
    "-1e308",
    "NaN",
    "-0.0",
    "0.0000001",
    "99999999999",
];

/// Replaces the `k`-th number in `text` (counted modulo how many there are) with `by`.
fn replace_number(text: &[u8], k: usize, by: &str) -> Vec<u8> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_digit() {
            let start = i;
            while i < text.len() && (text[i].is_ascii_digit() || text[i] == b'.') {
                i += 1;
            }
            spans.push(start..i);
        } else {
            i += 1;
        }
    }
    let Some(span) = (!spans.is_empty()).then(|| spans[k % spans.len()].clone()) else {
        return text.to_vec();
    };
    let mut out = text[..span.start].to_vec();
    out.extend_from_slice(by.as_bytes());
    out.extend_from_slice(&text[span.end..]);
    out
}

/// Inputs made from text `seeds` by 1-3 numbers swapped for extreme ones, then 0-3 byte
/// mutations; or any of [`mutants`].
fn text_mutants(seeds: Vec<Vec<u8>>, max_random: usize) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    let numbers = prop::collection::vec((any::<usize>(), 0..EXTREME_NUMBERS.len()), 1..4);
    let swapped = {
        let seeds = seeds.clone();
        (0..n, numbers, prop::collection::vec(mutation(), 0..3)).prop_map(move |(s, swaps, ms)| {
            let mut bytes = seeds[s].clone();
            for (k, e) in swaps {
                bytes = replace_number(&bytes, k, EXTREME_NUMBERS[e]);
            }
            ms.iter().for_each(|m| apply(&mut bytes, m));
            bytes
        })
    };
    prop_oneof![3 => swapped, 2 => mutants(seeds, max_random)]
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

// ---------------------------------------------------------------------------------------
// Targets.

fn packets() -> Vec<Packet> {
    let alert = Message::Alert(AlertEvent {
        timestamp_ms: 4400,
        kind: AlertKind::Anger,
        phase: AlertPhase::Raised,
        scores: EmotionScores([0.7, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]),
        face: Some(FaceBox::new(1, 2, 3, 4)),
    });
    let heartbeat = Message::Heartbeat(Heartbeat {
        timestamp_ms: 5000,
        wire_version: WIRE_VERSION,
        fps_milli: 30_000,
        frames: 150,
        faces: 149,
        dropped_frames: 1,
        source_errors: 0,
        output_errors: 0,
        inference_us_p50: 2000,
        inference_us_p99: 3000,
        active_alerts: 1,
        fault: None,
    });
    let manifest = Message::Manifest(Box::new(shipped_manifest()));
    [alert, heartbeat, manifest]
        .into_iter()
        .enumerate()
        .map(|(i, message)| Packet {
            boot_id: 7,
            seq: i as u32,
            message,
        })
        .collect()
}

#[test]
fn fuzz_wire_decoder() {
    let frames: Vec<Vec<u8>> = packets().iter().map(|p| encode_frame(p).unwrap()).collect();
    let stream: Vec<u8> = frames.concat();
    let mut seeds = frames.clone();
    seeds.push(stream);
    fuzz("wire", mutants(seeds, 600), |bytes| {
        for packet in FrameDecoder::new(512).push(bytes).into_iter().flatten() {
            // Whatever decodes re-encodes to a frame that decodes to the same packet.
            let mut again = encode_frame(&packet).expect("a decoded packet encodes");
            assert_eq!(decode_frame(&mut again).expect("round trip"), packet);
        }
        let _ = decode_frame(&mut bytes.clone());
    });
}

/// A palette TIFF: `w` x `h`, 8-bit indices, grey ramp palette, `strips` strips.
fn palette_tiff(w: u16, h: u16, strips: u16) -> Vec<u8> {
    let pixels: Vec<u8> = (0..w as usize * h as usize).map(|i| (i * 7) as u8).collect();
    let rows_per_strip = h.div_ceil(strips);
    let n_entries = 9u16;
    let ifd_at = 8u32;
    let ifd_len = 2 + 12 * n_entries as u32 + 4;
    let offsets_at = ifd_at + ifd_len;
    let counts_at = offsets_at + 4 * strips as u32;
    let map_at = counts_at + 4 * strips as u32;
    let data_at = map_at + 3 * 256 * 2;
    let mut out = b"II*\0".to_vec();
    out.extend(ifd_at.to_le_bytes());
    out.extend(n_entries.to_le_bytes());
    let mut entry = |tag: u16, kind: u16, count: u32, value: u32| {
        out.extend(tag.to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(count.to_le_bytes());
        out.extend(value.to_le_bytes());
    };
    entry(256, 3, 1, w as u32); // width
    entry(257, 3, 1, h as u32); // height
    entry(258, 3, 1, 8); // bits per sample
    entry(259, 3, 1, 1); // no compression
    entry(262, 3, 1, 3); // palette
    let strip_bytes = rows_per_strip as u32 * w as u32;
    // One value fits in the entry itself; more are stored elsewhere.
    let (offsets, counts) = if strips == 1 {
        (data_at, w as u32 * h as u32)
    } else {
        (offsets_at, counts_at)
    };
    entry(273, 4, strips as u32, offsets); // strip offsets
    entry(278, 3, 1, rows_per_strip as u32);
    entry(279, 4, strips as u32, counts); // strip byte counts
    entry(320, 3, 3 * 256, map_at); // colour map
    out.extend(0u32.to_le_bytes());
    for s in 0..strips as u32 {
        out.extend((data_at + s * strip_bytes).to_le_bytes());
    }
    for s in 0..strips as u32 {
        let left = (w as u32 * h as u32).saturating_sub(s * strip_bytes);
        out.extend(left.min(strip_bytes).to_le_bytes());
    }
    for _ in 0..3 {
        for i in 0..256u32 {
            out.extend(((i * 257) as u16).to_le_bytes());
        }
    }
    out.extend(pixels);
    out
}

fn encoded(format: image::ImageFormat) -> Vec<u8> {
    let img = image::GrayImage::from_fn(24, 16, |x, y| image::Luma([(x * 9 + y * 5) as u8]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

#[test]
fn fuzz_frame_decoding() {
    let tiffs = vec![palette_tiff(24, 16, 1), palette_tiff(24, 16, 4), palette_tiff(5, 3, 3)];
    for t in &tiffs {
        let img = artifacts::image::decode(t).expect("the seed TIFFs are valid");
        assert_eq!(img.pixels()[1], 7, "palette applied");
    }
    let mut seeds = tiffs;
    for format in [
        image::ImageFormat::Png,
        image::ImageFormat::Jpeg,
        image::ImageFormat::Bmp,
        image::ImageFormat::Pnm,
    ] {
        seeds.push(encoded(format));
    }
    fuzz("frame", mutants(seeds, 2000), |bytes| {
        let palette = shared::tiff_palette::is_palette_tiff(bytes);
        let mut result = None;
        let largest = largest_allocation(|| result = Some(artifacts::image::decode(bytes)));
        if let Some(Ok(img)) = result {
            assert_eq!(img.pixels().len(), img.width() as usize * img.height() as usize);
        }
        if palette {
            // Uncompressed: the image cannot hold more pixels than the file has bytes.
            assert!(
                largest <= 2 * bytes.len() + 64 * 1024,
                "palette TIFF of {} bytes allocated {largest} at once",
                bytes.len()
            );
        }
    });
}

fn cascade_xml() -> String {
    std::fs::read_to_string(repo().join("models/haarcascade_frontalface_default.xml")).expect("shipped cascade")
}

/// A test frame for parsed cascades: detection must not panic whatever the cascade says.
fn probe_frame() -> GrayImage {
    GrayImage::from_raw(40, 40, (0..1600u32).map(|i| (i * 37 % 251) as u8).collect()).unwrap()
}

fn check_cascade(cascade: &Cascade) {
    let params = DetectParams {
        min_size: 1,
        ..DetectParams::default()
    };
    let _ = cascade.try_detect(&probe_frame(), &params);
}

#[test]
fn fuzz_cascade_xml() {
    // The shipped cascade is ~900 KB; a cut-down one (its first stages) keeps inputs small
    // so mutations hit the structure, not only the numbers.
    let full = cascade_xml();
    let small = {
        let cut = full.find("<_>\n        <maxWeakCount>").and_then(|first| {
            full[first + 10..]
                .find("<_>\n        <maxWeakCount>")
                .map(|second| first + 10 + second)
        });
        let features = full.find("<features>").unwrap_or(full.len());
        match cut {
            Some(cut) if cut < features => {
                format!("{}</stages>\n{}", &full[..cut], &full[features..])
            }
            _ => full.clone(),
        }
    };
    let small_cascade = Cascade::from_opencv_xml(&small);
    assert!(small_cascade.is_ok(), "the cut-down seed parses: {small_cascade:?}");
    let seeds = vec![small.into_bytes()];
    fuzz("cascade-xml", text_mutants(seeds, 4000), |bytes| {
        let text = String::from_utf8_lossy(bytes);
        if let Ok(cascade) = Cascade::from_opencv_xml(&text) {
            check_cascade(&cascade);
        }
    });
}

#[test]
fn fuzz_cascade_postcard() {
    let cascade = Cascade::from_opencv_xml(&cascade_xml()).unwrap();
    let bytes = cascade.to_postcard().unwrap();
    let seeds = vec![bytes];
    fuzz("cascade-postcard", mutants(seeds, 4000), |bytes| {
        let mut parsed = None;
        let largest = largest_allocation(|| parsed = Some(Cascade::from_postcard(bytes)));
        assert!(
            largest <= 64 * bytes.len() + 1024 * 1024,
            "{} bytes allocated {largest} at once",
            bytes.len()
        );
        if let Some(Ok(cascade)) = parsed {
            check_cascade(&cascade);
        }
    });
}

fn shipped_manifest() -> ModelManifest {
    let text = std::fs::read_to_string(repo().join("models/vigil-int8.manifest.json")).expect("shipped manifest");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn fuzz_manifest() {
    let text = std::fs::read_to_string(repo().join("models/vigil-int8.manifest.json")).unwrap();
    let frame = probe_frame();
    fuzz("manifest", text_mutants(vec![text.into_bytes()], 3000), |bytes| {
        let Ok(manifest) = serde_json::from_slice::<ModelManifest>(bytes) else {
            return;
        };
        // A manifest that passes the edge's checks must be usable: its preprocessing makes
        // a model input without panicking or allocating beyond one face.
        if artifacts::manifest::check(Path::new("m.onnx"), &manifest).is_ok() {
            let p = manifest.preprocessing;
            let mut input = vec![0.0; INPUT_PIXELS];
            let largest = largest_allocation(|| {
                if let Ok(face) = p.face(&frame, FaceBox::new(5, 5, 30, 30)) {
                    let _ = p.normalize_into(&face, &mut input);
                }
            });
            assert!(largest <= 1 << 20, "preprocessing allocated {largest} at once");
        }
    });
}

#[test]
fn fuzz_config() {
    let text = std::fs::read_to_string(repo().join("edge/edge.toml")).unwrap();
    let board = std::fs::read_to_string(repo().join("deploy/edge.board.toml")).unwrap();
    fuzz(
        "config",
        text_mutants(vec![text.into_bytes(), board.into_bytes()], 2000),
        |bytes| {
            let text = String::from_utf8_lossy(bytes);
            if let Ok(config) = EdgeConfig::parse(&text, "fuzz") {
                // Whatever is accepted builds a policy and detector parameters.
                Policy::new(config.policy).expect("an accepted config has a valid policy");
                config
                    .detection
                    .params()
                    .validate()
                    .expect("valid detection parameters");
            }
        },
    );
}

#[test]
fn fuzz_stdin_frames() {
    let strategy = (1u32..40, 1u32..40, prop::collection::vec(any::<u8>(), 0..5000));
    fuzz("stdin", strategy, |(w, h, bytes)| {
        let mut source = RawGreySource::new(Cursor::new(bytes.clone()), *w, *h);
        let mut frames = 0usize;
        loop {
            match source.next_frame() {
                Ok(Some(frame)) => {
                    assert_eq!((frame.image.width(), frame.image.height()), (*w, *h));
                    frames += 1;
                }
                Ok(None) => break,
                Err(_) => break,
            }
            assert!(frames <= bytes.len(), "no frames from nothing");
        }
        assert_eq!(frames, bytes.len() / (*w as usize * *h as usize));
    });
}

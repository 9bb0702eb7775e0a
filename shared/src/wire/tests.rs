use super::*;
use crate::dataset::{DatasetKind, SplitProtocol};
use crate::preprocess::{Enhancement, Normalization, Preprocessing};
use alloc::string::ToString;
use alloc::vec;

fn alert() -> Message {
    Message::Alert(AlertEvent {
        timestamp_ms: 123_456,
        kind: AlertKind::Anger,
        phase: AlertPhase::Raised,
        scores: EmotionScores([0.75, 0.05, 0.05, 0.0, 0.1, 0.05, 0.0]),
        face: Some(FaceBox::new(56, 71, 147, 147)),
    })
}

fn heartbeat() -> Message {
    Message::Heartbeat(Heartbeat {
        timestamp_ms: 60_000,
        wire_version: WIRE_VERSION,
        fps_milli: 29_970,
        frames: 1800,
        faces: 1790,
        dropped_frames: 3,
        inference_us_p50: 2100,
        inference_us_p99: 4800,
        source_errors: 2,
        output_errors: 1,
        active_alerts: AlertKind::Anger.bit() | AlertKind::Fault.bit(),
        fault: Some(FaultCause::Outputs),
    })
}

fn manifest() -> Message {
    Message::Manifest(Box::new(ModelManifest {
        format_version: WIRE_VERSION,
        name: "vigil-int8".to_string(),
        labels: Emotion::ALL.to_vec(),
        input_chw: [1, 48, 48],
        preprocessing: Preprocessing {
            size: 48,
            margin: 0.0,
            enhancement: Enhancement::Clahe {
                clip_limit: 2.0,
                tiles: 4,
            },
            normalization: Normalization {
                scale: 0.5,
                offset: -1.0,
            },
        },
        quantization: Quantization::Int8 {
            scheme: "qdq".to_string(),
            calibration: "minmax".to_string(),
            calibration_images: 256,
        },
        datasets: vec![DatasetKind::CkPlus],
        split: SplitProtocol::Paper,
        seed: 42,
        metrics: vec![Metric {
            name: "acc".to_string(),
            value: 0.5,
        }],
        sha256: "ab".to_string(),
        temperature: 1.5,
        recipe: "r".to_string(),
        enhancer: Some(EnhancerRef {
            file: "e.onnx".to_string(),
            sha256: "cd".to_string(),
        }),
    }))
}

fn packet(seq: u32, message: Message) -> Packet {
    Packet {
        boot_id: 0xB007_1D00,
        seq,
        message,
    }
}

fn round_trip(message: Message, golden: &[u8]) {
    let packet = packet(7, message);
    let frame = encode_frame(&packet).unwrap();
    assert_eq!(frame, golden, "wire format changed: {frame:?}");
    assert_eq!(
        frame.iter().filter(|&&b| b == 0).count(),
        1,
        "exactly one zero, at the end"
    );
    assert_eq!(*frame.last().unwrap(), 0);
    let mut copy = frame.clone();
    assert_eq!(decode_frame(&mut copy).unwrap(), packet);
    let mut unterminated = frame[..frame.len() - 1].to_vec();
    assert_eq!(decode_frame(&mut unterminated).unwrap(), packet);
    for tail in [&[1u8, 2, 3][..], &[0], &frame] {
        let mut trailing = [&frame[..], tail].concat();
        assert_eq!(
            decode_frame(&mut trailing),
            Err(WireError::Cobs),
            "bytes after the frame's zero were ignored: {tail:?}"
        );
    }
}

#[test]
fn alert_golden() {
    round_trip(alert(), GOLDEN_ALERT);
}

#[test]
fn heartbeat_golden() {
    round_trip(heartbeat(), GOLDEN_HEARTBEAT);
}

#[test]
fn manifest_golden() {
    round_trip(manifest(), GOLDEN_MANIFEST);
}

/// Every single-bit error in an alert frame's body is refused (by COBS, the checksum or
/// postcard), never decoded as a different alert.
#[test]
fn every_flipped_bit_is_detected() {
    let frame = encode_frame(&packet(1, alert())).unwrap();
    for byte in 0..frame.len() - 1 {
        for bit in 0..8 {
            let mut bad = frame.clone();
            bad[byte] ^= 1 << bit;
            if bad[byte] == 0 {
                // A new zero splits the frame; the stream test covers resync.
                continue;
            }
            assert!(decode_frame(&mut bad).is_err(), "byte {byte} bit {bit} went undetected");
        }
    }
}

#[test]
fn lost_repeated_reordered_and_restarted_streams_are_told_apart() {
    let mut check = SequenceCheck::default();
    let at = |boot: u32, seq: u32| Packet {
        boot_id: boot,
        seq,
        message: heartbeat(),
    };
    assert_eq!(check.check(&at(1, 10)), Continuity::First);
    assert_eq!(check.check(&at(1, 11)), Continuity::InOrder);
    assert_eq!(check.check(&at(1, 14)), Continuity::Gap { missing: 2 });
    assert_eq!(check.check(&at(1, 13)), Continuity::Stale, "reordered");
    assert_eq!(check.check(&at(1, 14)), Continuity::Stale, "repeated");
    assert_eq!(check.check(&at(1, 15)), Continuity::InOrder);
    assert_eq!(check.check(&at(2, 0)), Continuity::Restarted { missing: 0 });
    assert_eq!(check.check(&at(2, 1)), Continuity::InOrder);
    // The new boot's manifest (seq 0) was lost on the line.
    assert_eq!(check.check(&at(5, 1)), Continuity::Restarted { missing: 1 });
    let mut wrap = SequenceCheck::default();
    wrap.check(&at(3, u32::MAX));
    assert_eq!(wrap.check(&at(3, 0)), Continuity::InOrder, "wraps");
}

/// A receiver sees corrupted, dropped and reordered frames for what they are.
#[test]
fn decoder_and_sequence_check_detect_corrupted_dropped_and_reordered_frames() {
    let frames: Vec<Vec<u8>> = (0..6).map(|i| encode_frame(&packet(i, heartbeat())).unwrap()).collect();
    let mut corrupted = frames[1].clone();
    corrupted[5] ^= 0x10;
    // 0, 1 (corrupted), 3 (2 dropped), 5, 4 (reordered)
    let stream: Vec<u8> = [&frames[0], &corrupted, &frames[3], &frames[5], &frames[4]]
        .iter()
        .flat_map(|f| f.iter().copied())
        .collect();
    let mut decoder = FrameDecoder::new(512);
    let mut check = SequenceCheck::default();
    let seen: Vec<Result<Continuity, WireError>> = decoder
        .push(&stream)
        .into_iter()
        .map(|r| r.map(|p| check.check(&p)))
        .collect();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0], Ok(Continuity::First));
    assert!(seen[1].is_err(), "corrupted: {:?}", seen[1]);
    assert_eq!(seen[2], Ok(Continuity::Gap { missing: 2 }), "1 corrupted and 2 dropped");
    assert_eq!(seen[3], Ok(Continuity::Gap { missing: 1 }));
    assert_eq!(seen[4], Ok(Continuity::Stale), "reordered");
}

#[test]
fn stream_decoder_resyncs_after_garbage() {
    let mut stream = vec![1, 2, 3, 0];
    stream.extend(encode_frame(&packet(0, alert())).unwrap());
    stream.extend(vec![7u8; 600]);
    stream.push(0);
    stream.extend(encode_frame(&packet(1, heartbeat())).unwrap());
    let mut decoder = FrameDecoder::new(512);
    let (first, rest) = stream.split_at(10);
    let mut results = decoder.push(first);
    results.extend(decoder.push(rest));
    assert_eq!(results.len(), 4);
    assert!(results[0].is_err());
    assert_eq!(results[1].as_ref().unwrap().message, alert());
    assert_eq!(results[2], Err(WireError::FrameTooLong(512)));
    assert_eq!(results[3].as_ref().unwrap().message, heartbeat());
}

#[test]
fn scores_top_and_alert_bits() {
    let s = EmotionScores([0.1, 0.1, 0.5, 0.1, 0.1, 0.05, 0.05]);
    assert_eq!(s.top(), Emotion::Fear);
    assert_eq!(s.get(Emotion::Fear), 0.5);
    let bits: u8 = AlertKind::ALL.iter().map(|k| k.bit()).fold(0, |a, b| a | b);
    assert_eq!(bits, 0b1_1111);
}

#[rustfmt::skip]
const GOLDEN_ALERT: &[u8] = &[7, 128, 186, 156, 128, 11, 7, 4, 192, 196, 7, 1, 1, 1, 11, 64, 63, 205, 204, 76, 61, 205, 204, 76, 61, 1, 1, 1, 9, 205, 204, 204, 61, 205, 204, 76, 61, 1, 1, 1, 13, 1, 112, 142, 1, 147, 1, 147, 1, 183, 245, 133, 20, 0];
#[rustfmt::skip]
const GOLDEN_HEARTBEAT: &[u8] = &[33, 128, 186, 156, 128, 11, 7, 1, 224, 212, 3, 4, 146, 234, 1, 136, 14, 254, 13, 3, 2, 1, 180, 16, 192, 37, 17, 1, 2, 130, 90, 5, 198, 0];
#[rustfmt::skip]
const GOLDEN_MANIFEST: &[u8] = &[21, 128, 186, 156, 128, 11, 7, 2, 4, 10, 118, 105, 103, 105, 108, 45, 105, 110, 116, 56, 7, 11, 1, 2, 3, 4, 5, 6, 1, 48, 48, 48, 1, 1, 1, 2, 2, 1, 1, 3, 64, 4, 1, 1, 2, 63, 1, 37, 128, 191, 1, 3, 113, 100, 113, 6, 109, 105, 110, 109, 97, 120, 128, 2, 1, 6, 99, 107, 112, 108, 117, 115, 5, 112, 97, 112, 101, 114, 42, 1, 3, 97, 99, 99, 1, 1, 5, 63, 2, 97, 98, 1, 20, 192, 63, 1, 114, 1, 6, 101, 46, 111, 110, 110, 120, 2, 99, 100, 34, 66, 234, 166, 0];

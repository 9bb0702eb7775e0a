#!/usr/bin/env python3
"""How much would averaging several exported models (and their mirror images) gain?

Distilling an ensemble into one network can at best recover what the ensemble itself
scores, so the ensemble's validation accuracy bounds that lever before any training is spent
on it. This script scores each exported fp32 model alone, with test-time flipping (the mean
of the face's and its mirror image's probabilities; and the mean of their logits, which is
what `host export --views mirrored` builds into a model), and every combination of two or more
models with and without flipping, on one split of `host prepare`'s cache: the same faces,
pixels and majority labels the trainer validates on.

Usage: ensemble_ceiling.py CACHE SPLIT MODEL.onnx [MODEL.onnx ...]
  CACHE: a prepared-data directory (`host prepare --out` / `host train --cache`);
  SPLIT: val or test (choose on val; test only reports);
  MODEL: `host export --fp32` outputs (`vigil-fp32.onnx`, logits out, input pixels / 255).
Reads every `*-<SPLIT>.vds` in CACHE. Needs numpy and onnxruntime.
"""
import itertools
import struct
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

# `host/src/data/cache.rs`: magic, format version, header length, postcard header, postcard
# `Vec<Sample>`, SHA-256. This reader knows format version 3 only.
MAGIC = b"VIGILDS\n"
FORMAT_VERSION = 3
SIDE = 48


def varint(b, i):
    """A postcard unsigned varint at b[i:]: (value, next index)."""
    value = shift = 0
    while True:
        byte = b[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def read_samples(path):
    """(pixels (48*48,) uint8, label, source path) of every sample of one cache file
    (`Sample` in host/src/data/sample.rs: pixels, label, dataset, subject, source, augmented,
    votes)."""
    b = path.read_bytes()
    if b[:8] != MAGIC:
        sys.exit(f"{path}: not a vigil cache file")
    version, head_len = struct.unpack("<II", b[8:16])
    if version != FORMAT_VERSION:
        sys.exit(f"{path}: cache format version {version}; this script reads {FORMAT_VERSION}")
    i = 16 + head_len
    n, i = varint(b, i)
    samples = []
    for _ in range(n):
        length, i = varint(b, i)
        pixels = np.frombuffer(b, np.uint8, length, i)
        i += length
        label, i = varint(b, i)
        _dataset, i = varint(b, i)
        strings = []
        for _string in range(2):  # subject, source
            length, i = varint(b, i)
            strings.append(b[i:i + length].decode())
            i += length
        i += 1  # augmented
        i += 8 if b[i] else 1  # votes: Option<[u8; 7]>
        samples.append((pixels, label, strings[1]))
    if i != len(b) - 32:
        sys.exit(f"{path}: samples end at byte {i}, expected {len(b) - 32}")
    return samples


def read_cache(path):
    """Pixels (n, 48*48) uint8 and labels (n,) of one cache file."""
    samples = read_samples(path)
    pixels = np.zeros((len(samples), SIDE * SIDE), np.uint8)
    for k, (p, _, _) in enumerate(samples):
        pixels[k] = p
    return pixels, np.array([label for _, label, _ in samples], np.int64)


def logits_of(model, x):
    session = ort.InferenceSession(str(model))
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i:i + 256]})[0] for i in range(0, len(x), 256)])


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    cache, split, models = Path(sys.argv[1]), sys.argv[2], [Path(m) for m in sys.argv[3:]]
    files = sorted(cache.glob(f"*-{split}.vds"))
    if not files:
        sys.exit(f"no *-{split}.vds in {cache}")
    parts = [read_cache(f) for f in files]
    x = np.concatenate([p for p, _ in parts]).reshape(-1, 1, SIDE, SIDE).astype(np.float32) / 255
    y = np.concatenate([l for _, l in parts])
    print(f"{len(y)} faces from {', '.join(f.name for f in files)}")
    logits = {}
    for m in models:
        logits[m] = (logits_of(m, x), logits_of(m, np.ascontiguousarray(x[:, :, :, ::-1])))

    def accuracy(p):
        return 100.0 * np.mean(p.argmax(axis=1) == y)

    # "mean logits" is what `host export --views mirrored` builds into a graph.
    print("| models | plain | with mirror images | with mirror images, mean logits |")
    print("|---|---:|---:|---:|")
    for r in range(1, len(models) + 1):
        for combo in itertools.combinations(models, r):
            plain = sum(softmax(logits[m][0]) for m in combo)
            flipped = plain + sum(softmax(logits[m][1]) for m in combo)
            mean_logits = sum(logits[m][0] + logits[m][1] for m in combo)
            names = " + ".join(str(m) for m in combo)
            print(f"| {names} | {accuracy(plain):.2f}% | {accuracy(flipped):.2f}% | {accuracy(mean_logits):.2f}% |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""How much of a paper-split test score comes from faces the starting weights trained on?

A paper-split model fine-tuned from the in-the-wild model (`host train --init-from`) starts
from weights that trained on the subject-independent training parts of CK+ and JAFFE. The
paper split draws its test images at random from all people, so many of them are faces the
starting weights have already seen. This script splits each paper-split test set into the
images that are in the in-the-wild cache's training split (matched by file name) and those
that are not, and scores each model on both parts: only the second part is a test.

Usage: paper_split_leak.py WILD_CACHE PAPER_CACHE MODEL.onnx [MODEL.onnx ...]
  WILD_CACHE: the in-the-wild run's prepared cache (`host prepare --protocol subject`);
  PAPER_CACHE: the paper-split run's prepared cache (`--protocol paper`);
  MODEL: int8 or fp32 models written by `host export` (input pixels / 255, logits out).
Needs numpy and onnxruntime.
"""
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ensemble_ceiling import SIDE, read_samples  # noqa: E402


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    wild, paper, models = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    seen = {Path(source).name for f in wild.glob("*-train.vds") for _, _, source in read_samples(f)}
    if not seen:
        sys.exit(f"no *-train.vds in {wild}")
    print("| model | test set | images | of them trained on by the in-the-wild model | accuracy, all | on faces it trained on | on the others |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for model in models:
        session = ort.InferenceSession(model)
        name = session.get_inputs()[0].name
        for f in sorted(paper.glob("*-test.vds")):
            samples = read_samples(f)
            x = np.stack([s[0] for s in samples]).reshape(-1, 1, SIDE, SIDE).astype(np.float32) / 255
            y = np.array([s[1] for s in samples])
            hit = session.run(None, {name: x})[0].argmax(axis=1) == y
            leaked = np.array([Path(s[2]).name in seen for s in samples])
            print(f"| {model} | {f.name} | {len(y)} | {leaked.sum()} | {100 * hit.mean():.2f}% "
                  f"| {hit[leaked].sum()}/{leaked.sum()} | {hit[~leaked].sum()}/{(~leaked).sum()} |")


if __name__ == "__main__":
    main()

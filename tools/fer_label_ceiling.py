#!/usr/bin/env python3
"""How well can a model that learnt FER+'s labels score on FER2013's original labels?

FER+ re-labelled FER2013's faces with ten annotators each; FER2013's own labels come from one
annotator. A model trained on FER+ is scored against FER2013's labels in `models/REPORT.md`.
This script finds each FER2013 PublicTest JPEG's FER+ Valid PNG (the same face: the JPEGs
are contrast-equalised, so faces are matched by the rank correlation of their pixels) and
measures how often FER+'s own majority label agrees with FER2013's label. That agreement
bounds what a perfect FER+ model could score on FER2013's labels.

Usage: fer_label_ceiling.py [DATA]   (DATA: the shared data directory; default $VIGIL_DATA)
Needs numpy and pillow.
"""
import csv
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

# The paper's label order (shared/src/labels.rs); "bored" is the datasets' disgust.
LABELS = ["angry", "bored", "fear", "happy", "neutral", "sad", "surprised"]
FER2013_FOLDERS = {"angry": 0, "disgust": 1, "fear": 2, "happy": 3, "neutral": 4, "sad": 5,
                   "surprise": 6}
# FER+ label.csv vote columns: neutral, happiness, surprise, sadness, anger, disgust, fear,
# contempt, unknown, NF; mapped onto LABELS (None: not one of the seven).
FERPLUS_COLUMNS = [4, 3, 6, 5, 0, 1, 2, None, None, None]
# Rank correlation a matched pair must reach, and the margin over the runner-up.
MIN_MATCH = 0.9
MIN_MARGIN = 0.1


def ranks(images):
    """Per-image pixel ranks, standardised, so a dot product / n is Spearman's rho."""
    r = np.argsort(np.argsort(images, axis=1, kind="stable"), axis=1).astype(np.float32)
    r -= r.mean(axis=1, keepdims=True)
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    return r


def grey(path):
    return np.asarray(Image.open(path).convert("L"), dtype=np.float32).reshape(-1)


def ferplus_votes(root):
    """name -> ten vote counts."""
    with open(root / "label.csv", newline="") as f:
        return {row[0]: np.array([int(v) for v in row[2:12]]) for row in csv.reader(f)}


def majority(votes):
    """FER+'s majority protocol: the most-voted class if it is one of the seven and untied."""
    top = votes.max()
    winners = np.flatnonzero(votes == top)
    if top == 0 or len(winners) != 1:
        return None
    return FERPLUS_COLUMNS[winners[0]]


def seven_class_argmax(votes):
    """The seven emotion columns' most-voted classes (what a model of FER+'s vote
    distribution over the seven would predict); several where tied."""
    seven = np.zeros(len(LABELS))
    for column, label in enumerate(FERPLUS_COLUMNS):
        if label is not None:
            seven[label] += votes[column]
    if seven.max() == 0:
        return set()
    return set(np.flatnonzero(seven == seven.max()))


def main():
    data = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("VIGIL_DATA", ""))
    if not (data / "fer2013").is_dir() or not (data / "ferplus").is_dir():
        sys.exit(f"no fer2013/ and ferplus/ under {data!s}: give the shared data directory")

    jpegs, truth = [], []
    for folder, label in FER2013_FOLDERS.items():
        for path in sorted((data / "fer2013" / "val" / folder).glob("PublicTest_*.jpg")):
            jpegs.append(path)
            truth.append(label)
    valid = data / "ferplus" / "FER2013Valid"
    votes = ferplus_votes(valid)
    pngs = sorted(p for p in valid.glob("fer*.png") if p.name in votes)
    print(f"FER2013 PublicTest JPEGs: {len(jpegs)}; FER+ Valid PNGs with votes: {len(pngs)}")

    a = ranks(np.stack([grey(p) for p in jpegs]))
    b = ranks(np.stack([grey(p) for p in pngs]))
    rho = a @ b.T
    best = rho.argmax(axis=1)
    top2 = np.sort(rho, axis=1)[:, -2:]
    matched = (top2[:, 1] >= MIN_MATCH) & (top2[:, 1] - top2[:, 0] >= MIN_MARGIN)
    used = best[matched]
    print(f"matched {matched.sum()} JPEGs to a PNG (rank correlation >= {MIN_MATCH}, "
          f"margin >= {MIN_MARGIN}); {len(used) - len(set(used.tolist()))} PNGs matched twice; "
          f"median correlation of matches {np.median(top2[matched, 1]):.4f}")

    agree = total = 0
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    argmax_hits = argmax_best = all_faces = 0
    for i in np.flatnonzero(matched):
        v = votes[pngs[best[i]].name]
        all_faces += 1
        winners = seven_class_argmax(v)
        if winners:
            argmax_best += truth[i] in winners
            argmax_hits += truth[i] in winners and len(winners) == 1
        m = majority(v)
        if m is None:
            continue
        total += 1
        agree += m == truth[i]
        confusion[truth[i], m] += 1

    print(f"\nFER+ majority label == FER2013 label: {agree} of {total} faces with a FER+ "
          f"majority label ({100 * agree / total:.2f}%)")
    print(f"FER+ seven-class most-voted label == FER2013 label, over all {all_faces} matched "
          f"faces: {100 * argmax_hits / all_faces:.2f}% (ties count as misses), "
          f"{100 * argmax_best / all_faces:.2f}% (ties count as hits: an upper bound)")
    print("\nFER2013 label (rows) vs FER+ majority label (columns), faces:")
    print("| FER2013 \\ FER+ | " + " | ".join(LABELS) + " | agree |")
    print("|---" * (len(LABELS) + 2) + "|")
    for r, name in enumerate(LABELS):
        n = confusion[r].sum()
        share = f"{100 * confusion[r, r] / n:.1f}%" if n else "-"
        print(f"| {name} | " + " | ".join(str(c) for c in confusion[r]) + f" | {share} |")


if __name__ == "__main__":
    main()

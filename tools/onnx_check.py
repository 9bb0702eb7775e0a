#!/usr/bin/env python3
"""Checks vigil's exported ONNX models with the reference tooling: onnx's full checker and
onnxruntime's CPU execution, compared with the logits tract produced for the same inputs.

Usage: onnx_check.py CASES.json
CASES.json: {"models": [{"path": "...onnx", "inputs": [[2304 floats], ...],
                         "logits": [[7 floats], ...], "tolerance": 1e-3}, ...]}
Exit status 0 when every model passes, 1 otherwise (each failure printed).
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def check(case):
    path = case["path"]
    onnx.checker.check_model(onnx.load(path), full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    expected = np.asarray(case["logits"], dtype=np.float32)
    inputs = np.asarray(case["inputs"], dtype=np.float32).reshape(-1, 1, 48, 48)
    # Face by face (as the edge runs it), then all faces as one batch: a batch keeps one row
    # of logits per face, in order.
    one = np.concatenate([session.run(None, {"input": x[None]})[0] for x in inputs])
    batch = session.run(None, {"input": inputs})[0]
    worst = float(np.max(np.abs(one - expected)))
    worst_batch = float(np.max(np.abs(batch - expected))) if batch.shape == expected.shape else float("inf")
    ok = max(worst, worst_batch) <= case["tolerance"]
    print(f"{path}: onnx checker ok; onnxruntime vs tract max |diff| {worst:.2e}, "
          f"batch of {len(inputs)} {worst_batch:.2e} (tolerance {case['tolerance']:.0e}) {'ok' if ok else 'FAILED'}")
    return ok


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    results = [check(case) for case in cases["models"]]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()

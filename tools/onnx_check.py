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
    worst = 0.0
    for x, expected in zip(case["inputs"], case["logits"]):
        x = np.asarray(x, dtype=np.float32).reshape(1, 1, 48, 48)
        got = session.run(None, {"input": x})[0].reshape(-1)
        worst = max(worst, float(np.max(np.abs(got - np.asarray(expected, dtype=np.float32)))))
    ok = worst <= case["tolerance"]
    print(f"{path}: onnx checker ok; onnxruntime vs tract max |diff| {worst:.2e} "
          f"(tolerance {case['tolerance']:.0e}) {'ok' if ok else 'FAILED'}")
    return ok


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    results = [check(case) for case in cases["models"]]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()

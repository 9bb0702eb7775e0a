#!/usr/bin/env python3
"""Where does the int8 model's error come from? Layer by layer, simulated in float.

The int8 export rounds two things: each layer's weights (symmetric int8, one scale per output
channel) and each activation (the int8 model's own scale and zero point). This script rounds
one of them at a time in the fp32 graph (weights in place; activations through a
QuantizeLinear -> DequantizeLinear pair after the ReLU), runs the result with onnxruntime on
one split of `host prepare`'s cache, and reports how far its logits move from fp32: the
signal-to-noise ratio of the logits (SQNR, dB: higher is closer) and the share of faces whose
top-1 class stays the fp32 one. Then all activations, all weights, and everything rounded
(which is what the int8 graph computes, up to the rounding mode), and the same with each
layer's weights kept in float in turn.

Usage: quant_sensitivity.py CACHE SPLIT FP32.onnx INT8.onnx [N]
  CACHE, SPLIT: as tools/ensemble_ceiling.py (choose on val);
  FP32.onnx, INT8.onnx: one `host export --fp32` (the int8 model supplies activation scales);
  N: score only the first N faces (default: all).
Needs numpy, onnx and onnxruntime.
"""
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ensemble_ceiling import SIDE, read_cache  # noqa: E402


def logits(model, x):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options)
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i:i + 256]})[0] for i in range(0, len(x), 256)])


def round_weights(model, which):
    """Rounds the weights of the Conv / Gemm layers whose weight tensor is in `which`
    (per output channel, symmetric, [-127, 127], as `host/src/export/quant.rs`)."""
    for t in model.graph.initializer:
        if t.name in which:
            w = numpy_helper.to_array(t).astype(np.float32)
            rows = w.reshape(w.shape[0], -1)
            scale = np.abs(rows).max(axis=1, keepdims=True) / 127
            scale[scale == 0] = 1
            q = np.clip(np.round(rows / scale), -127, 127) * scale
            t.CopyFrom(numpy_helper.from_array(q.reshape(w.shape).astype(np.float32), t.name))
    return model


def round_activations(model, params):
    """Puts QuantizeLinear -> DequantizeLinear after each ReLU whose output is in `params`
    (name -> (scale, zero point))."""
    nodes = []
    for n in model.graph.node:
        nodes.append(n)
        out = n.output[0]
        if n.op_type == "Relu" and out in params:
            scale, zero = params[out]
            n.output[0] = out + ".float"
            model.graph.initializer.extend([
                numpy_helper.from_array(np.array(scale, np.float32), out + ".sim_scale"),
                numpy_helper.from_array(np.array(zero, np.int8), out + ".sim_zero"),
            ])
            nodes.append(helper.make_node("QuantizeLinear", [out + ".float", out + ".sim_scale", out + ".sim_zero"], [out + ".sim_q"]))
            nodes.append(helper.make_node("DequantizeLinear", [out + ".sim_q", out + ".sim_scale", out + ".sim_zero"], [out]))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    cache, split, fp32, int8 = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    files = sorted(cache.glob(f"*-{split}.vds"))
    if not files:
        sys.exit(f"no *-{split}.vds in {cache}")
    x = np.concatenate([read_cache(f)[0] for f in files]).reshape(-1, 1, SIDE, SIDE).astype(np.float32) / 255
    if len(sys.argv) > 5:
        x = x[:int(sys.argv[5])]
    q = onnx.load(int8)
    init = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
    # Activation parameters by fp32 tensor name: each QLinearConv's output scale and zero
    # point (a dense layer split in parts shares one set: part 0's).
    acts = {}
    for n in q.graph.node:
        if n.op_type == "QLinearConv" or (n.op_type == "QuantizeLinear" and n.name.endswith("/Quantize") and n.name != "input/Quantize"):
            layer = n.name.rsplit("/", 1)[0] if n.op_type == "QuantizeLinear" or "/part" in n.name else n.name
            scale, zero = (n.input[6], n.input[7]) if n.op_type == "QLinearConv" else (n.input[1], n.input[2])
            acts.setdefault(layer, (init[scale], init[zero]))
    base = onnx.load(fp32)
    weights = [n.input[1] for n in base.graph.node if n.op_type in ("Conv", "Gemm")]
    reference = logits(base, x)

    def row(label, model):
        z = logits(model, x)
        sqnr = 10 * np.log10((reference ** 2).mean() / max(((reference - z) ** 2).mean(), 1e-30))
        agree = 100 * np.mean(z.argmax(1) == reference.argmax(1))
        print(f"| {label} | {sqnr:.1f} | {agree:.2f}% |")

    print(f"{len(x)} faces of {', '.join(f.name for f in files)}\n")
    print("| rounded | logit SQNR (dB) | top-1 agreement with fp32 |")
    print("|---|---:|---:|")
    for w in weights:
        row(f"weights of {w.removesuffix('.weight')}", round_weights(onnx.load(fp32), {w}))
    for a in acts:
        row(f"activations of {a}", round_activations(onnx.load(fp32), {a: acts[a]}))
    row("all activations", round_activations(onnx.load(fp32), acts))
    row("all weights", round_weights(onnx.load(fp32), set(weights)))
    row("**everything** (all weights and activations)", round_weights(round_activations(onnx.load(fp32), acts), set(weights)))
    for w in weights:
        keep = set(weights) - {w}
        row(f"everything but the weights of {w.removesuffix('.weight')}", round_weights(round_activations(onnx.load(fp32), acts), keep))


if __name__ == "__main__":
    main()

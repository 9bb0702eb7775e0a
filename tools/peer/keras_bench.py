#!/usr/bin/env python3
"""The peer of `host bench-train`: the same Table-1 network in Keras (TensorFlow, CPU), the
same batch, optimiser and thread count, timed the same way (one warm-up step, then N timed
training steps on seeded random images; then N forward passes in inference mode).

Checked against `host arch`: 5,484,039 trainable parameters. Prints the same two-row table
as `host bench-train`, so tools/bench_train_vs_keras.sh can read both alike.
"""
import argparse
import os
import sys
import time

TRAINABLE = 5_484_039


def build(tf, classes=7):
    L = tf.keras.layers

    def conv(x, ch, kh, kw, stride=1):
        x = L.Conv2D(ch, (kh, kw), strides=stride, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        return L.ReLU()(x)

    inp = L.Input((48, 48, 1))
    x = conv(inp, 32, 3, 3)
    x = conv(x, 64, 3, 3)
    x = L.MaxPooling2D(2, 2)(x)
    x = L.Dropout(0.25)(x)
    # Inception A: 12x12x256.
    a = conv(x, 64, 1, 1, 2)
    b = conv(conv(x, 48, 1, 1), 64, 3, 3, 2)
    c = conv(conv(conv(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, 2)
    d = conv(L.MaxPooling2D(3, 2, padding="same")(x), 32, 1, 1)
    x = L.Concatenate()([a, b, c, d])
    # Inception B (n = 3): 6x6x512.
    a = conv(x, 128, 1, 1, 2)
    b = conv(conv(conv(x, 96, 1, 1), 96, 1, 3), 128, 3, 1, 2)
    c = conv(conv(conv(conv(conv(x, 96, 1, 1), 96, 3, 1), 96, 1, 3), 96, 3, 1), 128, 1, 3, 2)
    d = conv(L.MaxPooling2D(3, 2, padding="same")(x), 128, 1, 1)
    x = L.Concatenate()([a, b, c, d])
    x = L.MaxPooling2D(2, 2)(x)
    x = L.Flatten()(x)
    x = L.Dropout(0.25)(L.Dense(1024, activation="relu")(x))
    x = L.Dropout(0.25)(L.Dense(256, activation="relu")(x))
    out = L.Dense(classes)(x)
    return tf.keras.Model(inp, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(7)
    model = build(tf)
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    if trainable != TRAINABLE:
        sys.exit(f"Keras network has {trainable} trainable parameters, `host arch` says {TRAINABLE}")
    opt = tf.keras.optimizers.Adam(1e-3)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    rng = np.random.default_rng(7)
    x = tf.constant(rng.random((args.batch_size, 48, 48, 1), dtype=np.float32))
    y = tf.constant(rng.integers(0, 7, args.batch_size))

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights))
        return loss

    @tf.function
    def forward(x):
        return model(x, training=False)

    step(x, y).numpy()  # warm-up: tracing, allocations
    t0 = time.perf_counter()
    for _ in range(max(1, args.steps)):
        step(x, y).numpy()
    train = time.perf_counter() - t0
    forward(x).numpy()
    t0 = time.perf_counter()
    for _ in range(max(1, args.steps)):
        forward(x).numpy()
    fwd = time.perf_counter() - t0
    images = max(1, args.steps) * args.batch_size
    print(f"keras {tf.__version__}, batch {args.batch_size}, {args.steps} timed steps, {args.threads} threads")
    print("| measure | value |\n|---|---|")
    print(f"| training ms/image | {1000 * train / images:.2f} |")
    print(f"| training images/s | {images / train:.1f} |")
    print(f"| forward ms/image (inference) | {1000 * fwd / images:.2f} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# burn (`host bench-train`) and Keras (tools/peer/keras_bench.py) side by side: the same
# network, batch, optimiser (Adam) and thread count, run interleaved ROUNDS times each, then
# the medians and the ratio burn / Keras for training and forward ms per image.
#
# usage: tools/bench_train_vs_keras.sh [ROUNDS=3] [BATCH=64] [STEPS=5] [THREADS=2]
# Makes its own venv (tensorflow-cpu, numpy) in ${VENV:-$HOME/.cache/vigil-keras-venv}.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3} batch=${2:-64} steps=${3:-5} threads=${4:-2}
venv=${VENV:-$HOME/.cache/vigil-keras-venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check tensorflow-cpu numpy
fi
cargo build --release -p host --quiet
host=${CARGO_TARGET_DIR:-target}/release/vigil-host
value() { sed -n "s/^| $1 | \([0-9.]*\) |$/\1/p"; }
burn_train=() burn_fwd=() keras_train=() keras_fwd=()
for r in $(seq "$rounds"); do
    out=$(RAYON_NUM_THREADS=$threads "$host" bench-train --batch-size "$batch" --steps "$steps")
    burn_train+=("$(value 'training ms\/image' <<<"$out")")
    burn_fwd+=("$(value 'forward ms\/image (inference)' <<<"$out")")
    out=$("$venv/bin/python" tools/peer/keras_bench.py --batch-size "$batch" --steps "$steps" --threads "$threads")
    keras_train+=("$(value 'training ms\/image' <<<"$out")")
    keras_fwd+=("$(value 'forward ms\/image (inference)' <<<"$out")")
    echo "round $r: burn train ${burn_train[-1]} fwd ${burn_fwd[-1]} | keras train ${keras_train[-1]} fwd ${keras_fwd[-1]} (ms/image)"
done
python3 - "${burn_train[*]}" "${burn_fwd[*]}" "${keras_train[*]}" "${keras_fwd[*]}" <<'PY'
import statistics, sys
bt, bf, kt, kf = ([float(v) for v in a.split()] for a in sys.argv[1:5])
m = statistics.median
print("| ms per image (median) | burn | Keras | burn / Keras |")
print("|---|---:|---:|---:|")
print(f"| training | {m(bt):.2f} | {m(kt):.2f} | {m(bt) / m(kt):.2f} |")
print(f"| forward | {m(bf):.2f} | {m(kf):.2f} | {m(bf) / m(kf):.2f} |")
PY

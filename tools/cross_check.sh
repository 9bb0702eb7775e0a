#!/usr/bin/env bash
# Builds the edge binary for aarch64, runs `edge classify` under qemu-user on real JAFFE
# images and checks that it prints exactly what the x86-64 build prints. Also runs the
# shared and edge crates' unit tests for aarch64 under qemu (cargo runner from
# .cargo/config.toml; release profile, so the dependencies built above are reused).
#   tools/cross_check.sh MODEL.onnx IMAGE...
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; shift
target=aarch64-unknown-linux-gnu
tdir="${CARGO_TARGET_DIR:-target}"

cargo build --release -p edge --target "$target"
cargo build --release -p edge
arm="$tdir/$target/release/edge"
x86="$tdir/release/edge"
file "$arm" | grep -q "ARM aarch64" || { echo "not an aarch64 binary: $arm"; exit 1; }
ls -l "$arm"

qemu-aarch64-static -L /usr/aarch64-linux-gnu "$arm" classify --model "$model" "$@" > /tmp/vigil-arm.jsonl
"$x86" classify --model "$model" "$@" > /tmp/vigil-x86.jsonl
# Labels and faces must be identical; probabilities may differ in the last float bits.
strip_probs() { sed 's/"probabilities":{[^}]*}//' "$1"; }
diff <(strip_probs /tmp/vigil-x86.jsonl) <(strip_probs /tmp/vigil-arm.jsonl)
echo "aarch64 (qemu) and x86-64 agree on $(wc -l < /tmp/vigil-arm.jsonl) images:"
sed 's/"probabilities":{[^}]*},\?//' /tmp/vigil-arm.jsonl

cargo test --release -p shared -p edge --target "$target" --lib

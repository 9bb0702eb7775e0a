#!/usr/bin/env bash
# Builds the edge binary for aarch64 with the board bundle's features (deploy/bundle.sh:
# gpio and v4l; v4l's bindings need libclang), runs `edge classify` under qemu-user on real
# JAFFE images and checks that it prints exactly what the x86-64 build prints; starts
# `edge run` with the board config to show the camera path is compiled in (a missing camera
# is reopened and raises the fault alert, not "built without V4L2 support"). Also runs the
# shared and edge crates' unit tests for aarch64 under qemu (cargo runner from
# .cargo/config.toml; release profile, so the dependencies built above are reused).
#   [VIGIL_X86_EDGE=BIN] tools/cross_check.sh MODEL.onnx IMAGE...
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; shift
target=aarch64-unknown-linux-gnu
tdir="${CARGO_TARGET_DIR:-target}"

features="${VIGIL_EDGE_FEATURES:-gpio,v4l}"
edge_features=$(echo "$features" | sed 's/[^,][^,]*/edge\/&/g')
# One invocation builds the aarch64 binary (for edge's integration tests) and the unit tests
# run at the end, so both resolve features alike: a plain `cargo build` leaves out the
# dev-dependencies' features, and the unit tests would then rebuild tract (~5 minutes).
aarch64_tests=(cargo test --release --target "$target" -p shared -p edge --features "$edge_features")
"${aarch64_tests[@]}" --no-run
arm="$tdir/$target/release/vigil-edge"
# The x86-64 reference: VIGIL_X86_EDGE names one already built (CI: the workspace tests'
# dev-profile binary, which saves a release build of tract); otherwise a release build.
x86="${VIGIL_X86_EDGE:-}"
if [ -z "$x86" ]; then
    cargo build --release -p edge
    x86="$tdir/release/vigil-edge"
fi
test -x "$x86" || { echo "no x86-64 edge binary at $x86"; exit 1; }
file "$arm" | grep -q "ARM aarch64" || { echo "not an aarch64 binary: $arm"; exit 1; }
ls -l "$arm"

qemu-aarch64-static -L /usr/aarch64-linux-gnu "$arm" classify --model "$model" "$@" > /tmp/vigil-arm.jsonl
"$x86" classify --model "$model" "$@" > /tmp/vigil-x86.jsonl
# Labels and faces must be identical; probabilities may differ in the last float bits.
strip_probs() { sed 's/"probabilities":{[^}]*}//' "$1"; }
diff <(strip_probs /tmp/vigil-x86.jsonl) <(strip_probs /tmp/vigil-arm.jsonl)
echo "aarch64 (qemu) and x86-64 agree on $(wc -l < /tmp/vigil-arm.jsonl) images:"
sed 's/"probabilities":{[^}]*},\?//' /tmp/vigil-arm.jsonl

# The board config with its camera, without the GPIO chip qemu does not have; the serial
# port it names does not exist here either, which is a fault, not a reason to stop.
board=$(mktemp -d)
trap 'rm -rf "$board"' EXIT
sed '/^\[outputs.gpio\]/,$d' deploy/edge.board.toml > "$board/edge.toml"
set +e
timeout --preserve-status -s TERM 12 qemu-aarch64-static -L /usr/aarch64-linux-gnu "$arm" run --config "$board/edge.toml" \
    --camera /dev/vigil-no-camera --model "$model" --cascade models/haarcascade_frontalface_default.xml \
    > "$board/stdout" 2> "$board/stderr"
rc=$?
set -e
echo "edge run with the board config (camera missing): exit $rc"
if grep -q "without V4L2 support" "$board/stderr" || ! grep -q "frame source unavailable" "$board/stderr" \
    || ! grep -q '"alert":"fault"' "$board/stdout" || [ "$rc" -ne 0 ]; then
    echo "the camera path is not compiled in or the missing camera was not a fault:"
    cat "$board/stderr" "$board/stdout"
    exit 1
fi
grep -m3 "frame source unavailable\|FAULT\|serial line unavailable" "$board/stderr" | cut -c1-200
cat "$board/stdout"

"${aarch64_tests[@]}" --lib

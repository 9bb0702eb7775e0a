#!/bin/sh
# Builds an offline install bundle: one tarball with the edge binary, the model(s) with
# their manifests, the Haar cascade, the board config, the systemd unit and install.sh.
#
#   deploy/bundle.sh [--target aarch64-unknown-linux-gnu] [--binary PATH] [--models DIR] [--out DIR]
#
# Without --binary it cross-builds `vigil-edge` (package `edge`) with the `dist` profile (fat LTO, stripped) for
# --target (default aarch64-unknown-linux-gnu; see .cargo/config.toml for the linker).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
target=aarch64-unknown-linux-gnu
binary=""
models="$repo/models"
out="$repo/dist"
# The board needs the camera (v4l: its bindings need libclang at build time, `apt-get
# install libclang1-14`) and the buzzer/LED (gpio). tools/cross_check.sh builds and runs the
# same features under qemu in CI.
features="${VIGIL_EDGE_FEATURES:-gpio,v4l}"
while [ $# -gt 0 ]; do
    case "$1" in
        --target) target=$2; shift 2 ;;
        --binary) binary=$2; shift 2 ;;
        --models) models=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "bundle.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$binary" ]; then
    (cd "$repo" && cargo build --profile dist -p edge --target "$target" --features "$features")
    binary="${CARGO_TARGET_DIR:-$repo/target}/$target/dist/vigil-edge"
fi
[ -x "$binary" ] || { echo "bundle.sh: no executable at $binary" >&2; exit 1; }
ls "$models"/*.onnx >/dev/null 2>&1 || { echo "bundle.sh: no *.onnx model in $models" >&2; exit 1; }
# The model (with its manifest) and the cascade the board config names must be in the
# bundle: without them the service cannot start on a fresh board, and on an upgrade the
# copies of an earlier install would go on being used.
board_file() { sed -n "s/^$1 *= *\"\(.*\)\"/\1/p" "$repo/deploy/edge.board.toml" | head -n 1; }
model=$(basename "$(board_file model)")
cascade=$(basename "$(board_file cascade)")
for f in "$model" "${model%.onnx}.manifest.json" "$cascade"; do
    [ -f "$models/$f" ] || { echo "bundle.sh: $models/$f is missing (deploy/edge.board.toml uses it)" >&2; exit 1; }
done

name="vigil-edge-$target"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name/bin" "$stage/$name/models"
cp "$binary" "$stage/$name/bin/vigil-edge"
cp "$models"/*.onnx "$models"/*.manifest.json "$stage/$name/models/"
cp "$models"/haarcascade_*.xml "$stage/$name/models/"
cp "$repo/deploy/edge.board.toml" "$stage/$name/edge.toml"
cp "$repo/deploy/vigil-edge.service" "$repo/deploy/install.sh" "$stage/$name/"
cp "$repo/README.md" "$stage/$name/"
chmod +x "$stage/$name/install.sh"
# Every file's SHA-256, checked by install.sh before it installs anything (the cascade and
# the binary have no manifest of their own).
(cd "$stage/$name" && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum > SHA256SUMS)
mkdir -p "$out"
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz"

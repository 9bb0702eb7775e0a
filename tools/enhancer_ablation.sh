#!/usr/bin/env bash
# The face enhancer's ablation (models/REPORT.md, "The face enhancer"): four CK+ + JAFFE
# classifiers (subject protocol, the in-the-wild recipe, 30 epochs, seed 42) that differ only
# in how a face is prepared (none, CLAHE, the learned enhancer, the enhancer then CLAHE), each
# exported to int8 and measured by `host robustness` on clean and degraded validation and test
# faces; the none and CLAHE models also with the enhancer put in front. Then the shipped
# in-the-wild model with and without the enhancer in front.
#
#   tools/enhancer_ablation.sh [OUT]      # OUT defaults to ~/.cache/vigil-runs/ablation
#
# Rerunnable: a finished step is skipped, an interrupted training resumes. Needs the clean-face
# cache that `host train-enhancer` makes (CLEAN, default ~/.cache/vigil-runs/prepared-clean;
# made from $VIGIL_DATA when missing). About 30 minutes of training on 2 cores, plus
# 15-20 minutes of measuring.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-$HOME/.cache/vigil-runs/ablation}
CLEAN=${CLEAN:-$HOME/.cache/vigil-runs/prepared-clean}
DATA=${VIGIL_DATA:-../shared/data}
ENH=$PWD/models/vigil-enhancer.onnx
mkdir -p "$OUT"
cargo build --release -p host
BIN=$OUT/vigil-host
cp "${CARGO_TARGET_DIR:-target}/release/vigil-host" "$BIN"
COMMON=(--data "$DATA" --dataset ckplus,jaffe --protocol subject --flip --augment wild --no-balance
  --schedule cosine --warmup 1 --optimizer adamw --weight-decay 0.05 --batch-size 64 --lr 1e-3
  --seed 42 --epochs 30)

# robustness MODEL OUTFILE [--add-enhancer FILE] [--only ...]: both splits, written atomically.
robustness() {
  local model=$1 out=$2; shift 2
  for split in val test; do
    [ -f "$out-$split.md" ] && continue
    nice -n 19 "$BIN" robustness --model "$model" --data "$DATA" --cache "$CLEAN" --split "$split" "$@" \
      > "$out-$split.md.tmp"
    mv "$out-$split.md.tmp" "$out-$split.md"
  done
}

arm() {
  local name=$1; shift
  local dir=$OUT/$name
  if [ ! -f "$dir/models/vigil-int8.onnx" ]; then
    local resume=()
    [ -d "$dir/run/checkpoints/last" ] && resume=(--resume)
    nice -n 19 "$BIN" train "${COMMON[@]}" "$@" --cache "$OUT/cache-$name" --out "$dir/run" "${resume[@]}"
    nice -n 19 "$BIN" export --run "$dir/run" --out "$dir/models" --force
  fi
  local add=()
  case $name in none|clahe) add=(--add-enhancer "$ENH");; esac
  robustness "$dir/models/vigil-int8.onnx" "$dir/robustness" "${add[@]}" --only ckplus,jaffe
}

arm clahe
arm none --enhancement none
arm ffa-clahe --enhancer "$ENH"
arm ffa --enhancer "$ENH" --enhancement none
robustness models/vigil-int8.onnx "$OUT/wild" --add-enhancer "$ENH"
echo "done: $OUT/*/robustness-{val,test}.md and $OUT/wild-{val,test}.md"

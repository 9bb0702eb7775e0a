#!/usr/bin/env bash
# Trains on a GPU machine that has neither the datasets nor a Rust toolchain: a `host` binary
# built with `--features wgpu`, a prepared cache (`host prepare` / a CPU run's `--cache`),
# and a wall-clock budget. It measures one training step on the GPU first, sizes the number of
# epochs to the budget (at most EPOCHS_MAX), trains with `--cache-only`, and packs the run
# (best checkpoint, metrics, report) into chunks of at most 15 MB under OUT_DIR, so that a
# transfer with a per-file limit carries it back (`cat run.tar.part* | tar x` rejoins it).
#
# usage: tools/train_on_gpu.sh HOST_BIN CACHE_DIR OUT_DIR BUDGET_S EPOCHS_MAX [train options...]
# Vulkan: wgpu needs the Vulkan loader (libvulkan.so.1) and the NVIDIA ICD; set
# VK_DRIVER_FILES when the ICD is not where the loader looks.
set -euo pipefail
host=$1 cache=$2 out=$3 budget=$4 epochs_max=$5
shift 5
mkdir -p "$out"
log="$out/train.log"
start=$(date +%s)

echo "== bench-train on wgpu (batch ${BENCH_BATCH:-64})" | tee -a "$log"
bench=$("$host" bench-train --backend wgpu --batch-size "${BENCH_BATCH:-64}" --steps 10 2>&1 | tee -a "$log")
ms=$(printf '%s\n' "$bench" | sed -n 's/^| training ms\/image | \([0-9.]*\) |$/\1/p' | head -1)
echo "training ms/image on the GPU: ${ms:-unknown}" | tee -a "$log"

# Training images per epoch (FER+ Train with CK+ and JAFFE is about 26,000).
images=${IMAGES_PER_EPOCH:-27000}
left=$(( budget - ($(date +%s) - start) - 60 ))
epochs=$(python3 - "$ms" "$images" "$left" "$epochs_max" <<'EOF'
import sys
ms, images, left, cap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
try:
    per_epoch = float(ms) * images / 1000 * 1.25 + 10   # augmentation, validation, checkpoint
except ValueError:
    per_epoch = 60.0
print(max(1, min(cap, int(left / per_epoch))))
EOF
)
echo "== training $epochs epoch(s) in about ${left} s" | tee -a "$log"
run="$out/run"
status=0
timeout --signal=INT "$left" "$host" train --backend wgpu --cache-only --cache "$cache" \
    --epochs "$epochs" --out "$run" "$@" 2>&1 | tee -a "$log" || status=$?
echo "train exit status $status after $(( $(date +%s) - start )) s" | tee -a "$log"

# Pack the run: the best checkpoint, the last state (not its weights and optimiser: too large
# to carry), metrics, report and plots.
tar -C "$out" -cf "$out/run.tar" --exclude='run/checkpoints/last/*.bpk' --exclude='run/checkpoints/.*' run
split -b 15000000 -d "$out/run.tar" "$out/run.tar.part"
rm -rf "$out/run.tar" "$run"
ls -la "$out"

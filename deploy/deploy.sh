#!/bin/sh
# Deploys ("flashes") the edge runtime to a board over ssh: builds the bundle, copies it,
# installs it with sudo (systemd service enabled and started), then checks on the board that
# the installed model's SHA-256 matches the manifest.
#
#   deploy/deploy.sh pi@raspberrypi.local [--target aarch64-unknown-linux-gnu]
set -eu
[ $# -ge 1 ] || { echo "usage: deploy/deploy.sh user@host [bundle.sh options]" >&2; exit 2; }
board=$1; shift
repo=$(cd "$(dirname "$0")/.." && pwd)
bundle=$("$repo/deploy/bundle.sh" "$@" | tail -n 1)
name=$(basename "$bundle" .tar.gz)
scp "$bundle" "$board:/tmp/"
ssh "$board" "cd /tmp && tar xzf $name.tar.gz && sudo ./$name/install.sh"
for manifest in "$repo"/models/*.manifest.json; do
    model=$(basename "${manifest%.manifest.json}").onnx
    want=$(sed -n 's/.*"sha256": *"\([0-9a-fA-F]*\)".*/\1/p' "$manifest")
    got=$(ssh "$board" sha256sum "/var/lib/vigil/models/$model" | cut -d' ' -f1)
    [ "$want" = "$got" ] || { echo "deploy.sh: $model on $board has sha256 $got, manifest $want" >&2; exit 1; }
    echo "$board: $model sha256 ok"
done

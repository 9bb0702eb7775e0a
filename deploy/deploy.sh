#!/bin/sh
# Deploys ("flashes") the edge runtime to a board over ssh: builds the bundle, copies it into
# a private temporary directory there, installs it with sudo (service enabled and
# restarted), then checks on the board that the running binary is the bundle's and the
# installed models' SHA-256 match their manifests.
#
#   deploy/deploy.sh pi@raspberrypi.local [--target aarch64-unknown-linux-gnu]
set -eu
[ $# -ge 1 ] || { echo "usage: deploy/deploy.sh user@host [bundle.sh options]" >&2; exit 2; }
board=$1; shift
repo=$(cd "$(dirname "$0")/.." && pwd)
# No pipe: a failed bundle.sh stops here (sh has no pipefail).
built=$("$repo/deploy/bundle.sh" "$@")
bundle=$(printf '%s\n' "$built" | tail -n 1)
name=$(basename "$bundle" .tar.gz)
# A private directory on the board (not a predictable /tmp path that another user could
# prepare), removed whatever happens.
dir=$(ssh "$board" mktemp -d)
case "$dir" in /*) ;; *) echo "deploy.sh: mktemp on $board gave '$dir'" >&2; exit 1 ;; esac
trap 'ssh "$board" rm -rf "$dir"' EXIT
scp "$bundle" "$board:$dir/"
ssh "$board" "cd '$dir' && tar xzf '$name.tar.gz' && sudo './$name/install.sh'"
# install.sh restarted the service and checked the running process is the new binary;
# check that it is the binary of this bundle.
want=$(tar -xzOf "$bundle" "$name/bin/vigil-edge" | sha256sum | cut -d' ' -f1)
got=$(ssh "$board" 'sudo sha256sum /proc/$(systemctl show -p MainPID --value vigil-edge.service)/exe' | cut -d' ' -f1)
[ "$want" = "$got" ] || { echo "deploy.sh: $board runs a vigil-edge with sha256 $got, the bundle's is $want" >&2; exit 1; }
echo "$board: running vigil-edge sha256 ok ($got)"
# The models of this bundle (not of the checkout: --models may name another directory).
for entry in $(tar -tzf "$bundle" | grep '/models/.*\.manifest\.json$'); do
    model=$(basename "${entry%.manifest.json}").onnx
    want=$(tar -xzOf "$bundle" "$entry" | sed -n 's/.*"sha256": *"\([0-9a-fA-F]*\)".*/\1/p')
    got=$(ssh "$board" sha256sum "/var/lib/vigil/models/$model" | cut -d' ' -f1)
    [ "$want" = "$got" ] || { echo "deploy.sh: $model on $board has sha256 $got, manifest $want" >&2; exit 1; }
    echo "$board: $model sha256 ok"
done

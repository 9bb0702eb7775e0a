#!/bin/sh
# Installs a vigil edge bundle on this machine (run as root on the board), or under
# $DESTDIR when set (a staging root: nothing is started, no users are created).
#
#   sudo ./install.sh            # install, enable and (re)start the service
#   DESTDIR=/tmp/root ./install.sh
#
# VIGIL_ACTIVATE=1 with DESTDIR runs the user, group and service steps too, against
# whatever `systemctl`, `useradd`... the PATH holds (edge/tests/bundle.rs uses fakes).
#
# Refuses a bundle whose files differ from its SHA256SUMS, and a model whose SHA-256
# differs from its manifest.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root="${DESTDIR:-}"

die() { echo "install.sh: $*" >&2; exit 1; }

[ -x "$here/bin/vigil-edge" ] || die "missing $here/bin/vigil-edge"
# The bundle as built: every file (binary, models, cascade, config, unit) against the
# SHA256SUMS bundle.sh wrote, and no file missing.
[ -f "$here/SHA256SUMS" ] || die "missing $here/SHA256SUMS"
(cd "$here" && sha256sum --quiet -c SHA256SUMS) || die "bundle files do not match SHA256SUMS: the bundle is damaged or was altered"
found=0
for model in "$here"/models/*.onnx; do
    [ -e "$model" ] || continue
    found=1
    manifest="${model%.onnx}.manifest.json"
    [ -f "$manifest" ] || die "$model has no manifest ($manifest)"
    want=$(sed -n 's/.*"sha256": *"\([0-9a-fA-F]*\)".*/\1/p' "$manifest")
    got=$(sha256sum "$model" | cut -d' ' -f1)
    [ "$want" = "$got" ] || die "$model does not match its manifest: sha256 $got, manifest says $want"
    echo "model ok: $(basename "$model") sha256 $got"
done
[ "$found" = 1 ] || die "no model (*.onnx) in $here/models"

install -D -m 0755 "$here/bin/vigil-edge" "$root/usr/local/bin/vigil-edge"
install -d -m 0755 "$root/var/lib/vigil/models"
for f in "$here"/models/*; do
    install -m 0644 "$f" "$root/var/lib/vigil/models/"
done
if [ -f "$root/etc/vigil/edge.toml" ]; then
    echo "keeping existing $root/etc/vigil/edge.toml (new default saved as edge.toml.new)"
    install -D -m 0644 "$here/edge.toml" "$root/etc/vigil/edge.toml.new"
else
    install -D -m 0644 "$here/edge.toml" "$root/etc/vigil/edge.toml"
fi
install -D -m 0644 "$here/vigil-edge.service" "$root/etc/systemd/system/vigil-edge.service"
[ -f "$here/README.md" ] && install -D -m 0644 "$here/README.md" "$root/usr/local/share/doc/vigil/README.md"

if [ -z "$root" ] || [ "${VIGIL_ACTIVATE:-0}" = 1 ]; then
    id vigil >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin vigil
    # Device groups differ between boards: join those that exist (the unit names none).
    for g in video gpio dialout; do
        if getent group "$g" >/dev/null; then usermod -aG "$g" vigil; else echo "note: no group $g on this board"; fi
    done
    if command -v systemctl >/dev/null 2>&1; then
        systemctl daemon-reload
        systemctl enable vigil-edge.service
        # restart, not `enable --now`: a running unit would keep the old binary.
        systemctl restart vigil-edge.service || die "vigil-edge did not start: journalctl -u vigil-edge"
        want=$(sha256sum "$root/usr/local/bin/vigil-edge" | cut -d' ' -f1)
        got=""
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            pid=$(systemctl show -p MainPID --value vigil-edge.service)
            if [ "${pid:-0}" != 0 ]; then
                got=$(sha256sum "/proc/$pid/exe" | cut -d' ' -f1)
                break
            fi
            sleep 1
        done
        [ "$got" = "$want" ] || die "the running vigil-edge is not the binary just installed (running ${got:-none}, installed $want)"
        echo "running: vigil-edge pid $pid, sha256 $got"
        systemctl --no-pager status vigil-edge.service || true
    fi
fi
echo "installed vigil edge into ${root:-/}"

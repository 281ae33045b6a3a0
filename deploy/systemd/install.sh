#!/bin/sh
# Install faas as a systemd service on this host (one node), from this source tree or from a
# package name pip understands:
#
#   sudo deploy/systemd/install.sh            # this checkout
#   sudo deploy/systemd/install.sh 'faas[postgres]==0.1.0'
#
# What it does (docs/operations.md, "Install", has the same steps by hand):
#   1. the tools the sandbox uses: ip, nft, mkfs.ext4, mount (Debian/Ubuntu package names);
#   2. a virtual environment in /opt/faas (FAAS_PREFIX) with faas in it;
#   3. /etc/faas/config.toml, unless one is there already;
#   4. the unit /etc/systemd/system/faas.service, enabled and started.
# The first start makes /var/lib/faas (mode 0700) with the master key and the admin key's
# credentials file. Running it again upgrades faas and restarts the service: take a backup
# first (faas backup), migrations run at start.
set -eu

prefix=${FAAS_PREFIX:-/opt/faas}
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
source_tree=$(CDPATH='' cd -- "$here/../.." && pwd)
package=${1:-$source_tree}

fail() {
    echo "install.sh: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || fail "run as root: the service runs as root (the sandbox needs it)"
command -v systemctl >/dev/null 2>&1 || fail "systemctl not found: this installs a systemd service"
command -v python3 >/dev/null 2>&1 || fail "python3 not found (faas needs Python 3.11 or later)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || fail "$(python3 --version 2>&1) is too old: faas needs Python 3.11 or later"

if command -v apt-get >/dev/null 2>&1; then
    missing=""
    for pair in ip:iproute2 nft:nftables mkfs.ext4:e2fsprogs mount:mount; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
    done
    python3 -c 'import venv, ensurepip' 2>/dev/null || missing="$missing python3-venv"
    if [ -n "$missing" ]; then
        # Word splitting wanted: one argument per package.
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
    fi
fi

[ -x "$prefix/bin/python" ] || python3 -m venv "$prefix"
"$prefix/bin/pip" install --quiet --upgrade pip
"$prefix/bin/pip" install --quiet --upgrade "$package"

install -d -m 0755 /etc/faas
if [ ! -e /etc/faas/config.toml ]; then
    install -m 0640 "$here/config.toml" /etc/faas/config.toml
fi
sed "s|/opt/faas/bin/faas|$prefix/bin/faas|" "$here/faas.service" >/etc/systemd/system/faas.service
chmod 0644 /etc/systemd/system/faas.service

systemctl daemon-reload
systemctl enable faas.service
systemctl restart faas.service
echo "faas installed in $prefix and started: systemctl status faas, journalctl -u faas"
echo "the admin key is in /var/lib/faas/credentials; on this host: sudo FAAS_CONFIG=/etc/faas/config.toml $prefix/bin/faas doctor"

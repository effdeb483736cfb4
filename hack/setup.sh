#!/usr/bin/env bash
# Installs what headwater needs on a fresh Debian machine, and does nothing the second time:
#  - the Debian packages the stack and the tests use, when some are missing
#    (one `apt-get update`, then only those packages; the list is in
#    src/headwater/devstack/sysdeps.py);
#  - a virtualenv in .venv with headwater and its development tools, reinstalled only
#    when pyproject.toml changed.
# The Kubernetes binaries are built by `headwater up` (or the test session) on first use
# and cached in ~/.cache/headwater/kube/.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=$(python3 src/headwater/devstack/sysdeps.py --packages)
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "hack/setup.sh: these Debian packages are missing and need root to install: $missing" >&2
        exit 1
    fi
    echo "hack/setup.sh: installing Debian packages: $missing"
    apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat .venv/.headwater-installed 2>/dev/null)" != "$want" ]; then
    echo "hack/setup.sh: installing headwater and its tools into .venv"
    .venv/bin/pip install -q -U pip
    .venv/bin/pip install -q -e '.[dev]'
    echo "$want" > .venv/.headwater-installed
fi

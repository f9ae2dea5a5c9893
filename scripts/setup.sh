#!/usr/bin/env bash
# Set up genserve on a fresh machine: system packages (when root), a virtual environment in .venv,
# and the project with all its extras. Safe to run again: it only installs what is missing.
#   scripts/setup.sh           # everything needed to run
#   scripts/setup.sh --dev     # plus test, lint and browser-test tools
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

# 1. Python 3.11+
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "genserve needs Python 3.11 or newer; found: $("$PY" --version 2>&1). Install python3.11 and re-run." >&2
  exit 2
fi

# 2. system packages: speech synthesis, CJK fonts and a browser for tests, ffmpeg tools
# libgl1 and libglib2.0-0: the layout extra's rapid-layout pulls OpenCV's desktop build, which links them
APT_PKGS=(espeak-ng fonts-wqy-microhei libgl1 libglib2.0-0)
[ "$DEV" = 1 ] && APT_PKGS+=(chromium sox)
# curl and jq: the document-003 smoke test (curl -F image=@page.png .../api/v1/recognize | jq -e .text_blocks)
[ "$DEV" = 1 ] && APT_PKGS+=(curl jq)
missing=()
for pkg in "${APT_PKGS[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing system packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "optional system packages missing (${missing[*]}); install them with: sudo apt-get install ${missing[*]}"
  fi
fi

# 3. the virtual environment and the project
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# NOTE: pin torch first so that the CPU build is used where a local wheel provides it
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
  say "installing torch"
  "${PIP[@]}" "torch==2.13.0" || "${PIP[@]}" torch
fi
EXTRAS="all"
[ "$DEV" = 1 ] && EXTRAS="all,dev"
say "installing genserve[$EXTRAS]"
"${PIP[@]}" -e ".[$EXTRAS]"
say "done: .venv/bin/genserve doctor"

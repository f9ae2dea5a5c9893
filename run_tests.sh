#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: lint, types, tests. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --dev
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
mkdir -p test-artifacts
.venv/bin/python -m pytest -p no:cacheprovider "$@"

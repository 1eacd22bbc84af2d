#!/usr/bin/env bash
# The one virtualenv, .venv: created if missing, then brought to requirements-dev.txt. Both test commands
# (tests/run.sh, tests/engine/run.sh) start with it.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/need_python.sh
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

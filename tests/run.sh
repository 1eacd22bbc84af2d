#!/usr/bin/env bash
# The whole test suite from a fresh clone: creates .venv, installs what the tests need, then
# lints, type-checks and runs the tests. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

echo "== ruff"
"$venv/bin/ruff" check .
echo "== pyright"
"$venv/bin/pyright" --pythonpath "$venv/bin/python"
# Locust patches the process with gevent, which hangs the Pulumi runtime: one pytest run each.
echo "== Pulumi program under mocks"
"$venv/bin/python" -m pytest tests/infra
if [ -d tests/loadtest ]; then
  echo "== load-test package"
  "$venv/bin/python" -m pytest tests/loadtest
fi

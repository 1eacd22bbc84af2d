#!/usr/bin/env bash
# Regenerates the exact pins (requirements*.txt, policy/requirements.txt) from the ranges beside them (*.in), with
# pip-tools at a pinned version in a virtualenv of its own. Run it after changing a range, or to take newer
# releases within the ranges; then run the tests. Pins resolve for the Python that runs this (CI: 3.11, Linux).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/need_python.sh
if [ ! -x .venv-lock/bin/pip-compile ]; then
  python3 -m venv .venv-lock
fi
.venv-lock/bin/python -m pip install --quiet --disable-pip-version-check pip-tools==7.6.2
export CUSTOM_COMPILE_COMMAND="bash tools/lock.sh"
compile() {
  echo "== $2"
  .venv-lock/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links --upgrade \
    --output-file "$2" "$1" "${@:3}"
}
# The test virtualenv holds the product and the test tools (pulumi-policy bounds protobuf), so it resolves first;
# the product's pins are then taken from it, so that `pulumi install` and the tests run the same versions.
compile requirements-dev.in requirements-dev.txt
compile requirements.in requirements.txt --constraint requirements-dev.txt
compile policy/requirements.in policy/requirements.txt
compile requirements-checkov.in requirements-checkov.txt
compile requirements-benchmark.in requirements-benchmark.txt

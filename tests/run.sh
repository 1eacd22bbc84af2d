#!/usr/bin/env bash
# The whole test suite from a fresh clone: creates .venv, installs what the tests need, then
# lints, type-checks and runs the tests. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
bash tests/venv.sh

echo "== ruff (lint and format)"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
echo "== gofmt and go vet: the Go code of this repository (localcluster/provider)"
unformatted=$(gofmt -l localcluster)
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted (run gofmt -w localcluster)" >&2
  exit 1
fi
python3 -m localcluster.build --vet
echo "== pyright"
"$venv/bin/pyright" --pythonpath "$venv/bin/python"
# Locust patches the process with gevent, which hangs the Pulumi runtime: one pytest run each.
echo "== Pulumi program and its policy pack under mocks"
"$venv/bin/python" -m pytest tests/infra tests/policy
# The real deploy runs only where TFSERVING_E2E_PROJECT is set, the serving benchmark only where TensorFlow
# is installed (benchmarks/README.md); -rs prints how to run each when skipped.
echo "== end-to-end test and its helpers; serving benchmark smoke test; the local cluster's build and shapes"
"$venv/bin/python" -m pytest -rs tests/e2e tests/benchmarks tests/localcluster
# checkov pins its own dependencies, so it gets a virtualenv of its own.
echo "== checkov: Kubernetes checks on the manifests the stacks declare"
checkov_venv=.venv-checkov
if [ ! -x "$checkov_venv/bin/python" ]; then
  python3 -m venv "$checkov_venv"
fi
"$checkov_venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
manifests=$(mktemp -d)
trap 'rm -rf "$manifests"' EXIT
"$venv/bin/python" -m tests.infra.render_manifests "$manifests" >/dev/null
"$checkov_venv/bin/checkov" --directory "$manifests" --framework kubernetes --skip-download --compact --quiet
echo "== load-test package"
"$venv/bin/python" -m pytest tests/loadtest

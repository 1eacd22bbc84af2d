#!/usr/bin/env bash
# The engine tests from a fresh clone: the real Pulumi CLI and Kubernetes provider deploy the existing-cluster
# stack into a local Kubernetes control plane (etcd, kube-apiserver, controller manager, scheduler, kwok) on
# 127.0.0.1, and a short scaling rehearsal runs on it. The tools are built from Go modules into a cache outside
# the repository first: about 17 minutes cold on 2 cores (docs/local-cluster.md), seconds when built. Needs
# Go 1.26+ and openssl.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/venv.sh
echo "== building the engine's tools (only what is missing)"
python3 -m localcluster.build
echo "== engine tests"
.venv/bin/python -m pytest -rA tests/engine

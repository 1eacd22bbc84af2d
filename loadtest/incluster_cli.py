"""The steps of `python -m loadtest --in-cluster` that cli.main calls: find the cluster and its Service from the
stack's outputs, check the Service predicts from inside the cluster, run, and delete the run's namespace."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loadtest import model_api, verdict
from loadtest.incluster import InClusterRun
from loadtest.incluster_objects import (
    VERDICT_FILE,
    InClusterError,
    LoadGenerator,
    manifests,
    namespace_name,
)
from loadtest.kube_client import stack_api_client
from loadtest.shape import LAB_STEP_SECONDS, LAB_STEPS, duration_seconds
from loadtest.target import TargetError, checked_answer, stack_outputs

# Beyond the load itself: the workers connecting, Locust's stop, and the report files' way back.
REPORT_GRACE_SECONDS = 300.0


def prepare(args: argparse.Namespace) -> tuple[InClusterRun, LoadGenerator]:
    # --in-cluster refuses --host: the stack's outputs are the only way to the cluster, so nothing is suggested.
    outputs = stack_outputs(args.stack, show_secrets=True, instead=None)
    exported = outputs.get("loadGenerator")
    if not isinstance(exported, dict):
        raise TargetError(
            f"Stack {args.stack} has no load-generator pool: `pulumi config set loadGeneratorNodes 4` "
            "(most nodes; none run at rest), then `pulumi up`."
        )
    if "service" not in exported:
        raise TargetError(f"Stack {args.stack}'s outputs predate --in-cluster's preflight: run `pulumi up` once.")
    generator = LoadGenerator(
        node_pool=exported["nodePool"],
        taint_key=exported["taintKey"],
        taint_value=exported["taintValue"],
        rest_url=exported["restUrl"],
        service=exported["service"],
        namespace=exported["namespace"],
        port=int(exported["port"]),
    )
    run = InClusterRun(stack_api_client(outputs, args.stack, args.context), namespace_name(), args.pending_timeout)
    return run, generator


def check_prediction(args: argparse.Namespace, run: InClusterRun, generator: LoadGenerator) -> tuple[str, str, dict]:
    """One prediction from the address the pods will load; the address said, the path, and the answer."""
    path = model_api.predict_path(args.model_name, args.model_version or None)
    body = model_api.predict_body(model_api.load_image(args.image), args.signature)
    try:
        status, content = run.proxies.predict_through_service(generator, path, body)
    except InClusterError as error:
        raise TargetError(str(error)) from error
    where = f"{generator.rest_url} (through the API server's proxy)"
    return where, path, checked_answer(where + path, status, content)


def load_seconds(args: argparse.Namespace) -> float:
    """How long the asked load runs: --run-time, or the steps times their length."""
    if args.run_time is not None:
        return duration_seconds(args.run_time) or 0.0
    steps = args.steps if args.steps is not None else LAB_STEPS
    return steps * (args.step_time if args.step_time is not None else LAB_STEP_SECONDS)


def run(
    args: argparse.Namespace,
    cluster_run: InClusterRun,
    generator: LoadGenerator,
    load_args: list[str],
    report_dir: Path,
    verdict_file: Path,
) -> tuple[int, bool]:
    """The same test on the cluster; its namespace is deleted however the run ends."""
    objects = manifests(cluster_run.namespace, generator, args.workers, model_api.load_image(args.image), load_args)
    within = load_seconds(args) + args.report_grace
    print(f"Creating namespace {cluster_run.namespace}: a Locust master and {args.workers} worker(s).", flush=True)
    try:
        cluster_run.create(objects)
        cluster_run.wait_for_pods(args.workers, _say)
        print(f"Load running; its reports are expected within {within / 60:.0f} min.", flush=True)
        result = cluster_run.follow_master(report_dir, _say, within)
    except KeyboardInterrupt:
        verdict_file.write_text("INTERRUPTED: the in-cluster run was stopped by Ctrl+C before its reports came back\n")
        return verdict.INTERRUPTED, True
    except InClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        verdict_file.write_text("FAIL: the in-cluster run could not complete (see the error above)\n")
        return verdict.FAILED, False
    finally:
        delete(cluster_run)
    copied = report_dir / VERDICT_FILE
    if copied.exists():
        copied.replace(verdict_file)
    if result.lost_workers:
        lost = ", ".join(result.lost_workers)
        print(
            f"error: the master lost {len(result.lost_workers)} worker(s) during the run ({lost}): "
            "the load fell short of what was asked",
            file=sys.stderr,
        )
        return (verdict.FAILED if result.exit_code == verdict.PASSED else result.exit_code), False
    return result.exit_code, False


def delete(cluster_run: InClusterRun) -> None:
    """The run's namespace goes however the run ended; a refusal is said, and the verdict stands."""
    if not cluster_run.namespace_created:
        return
    print(f"Deleting namespace {cluster_run.namespace}.", flush=True)
    try:
        cluster_run.delete()
    except InClusterError as error:
        print(f"error: {error}", file=sys.stderr)


def _say(text: str) -> None:
    print(text, flush=True)

"""Finding the model server: from --host, or from the Pulumi stack's outputs, and checking it answers."""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import requests
import yaml

from loadtest import model_api
from loadtest.deadline import Deadline, DeadlineError

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_STACK = "dev"
CHECK_TIMEOUT_SECONDS = 30


class TargetError(RuntimeError):
    """The target cannot be found or does not serve predictions; the message says what to do."""


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("target (one of)")
    where.add_argument(
        "--host", metavar="URL", help="REST base URL of TF Serving, e.g. http://34.1.2.3:8501 (overrides --stack)"
    )
    where.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        help="Pulumi stack whose restUrl output is the target (default: %(default)s); needs the Pulumi CLI",
    )


def project_defaults() -> dict[str, object]:
    """The defaults of the project's settings, from Pulumi.yaml's config schema, where they are declared."""
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    return {key: spec["default"] for key, spec in project["config"].items() if "default" in spec}


def stack_settings(stack: str) -> dict[str, object]:
    """A stack's settings as the CLI hands them over: Pulumi.yaml's defaults, then Pulumi.<stack>.yaml's values of
    this project (short keys)."""
    values = project_defaults()
    declared = (yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text()) or {}).get("config") or {}
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["name"]
    for key, value in declared.items():
        if key.startswith(f"{project}:"):
            values[key.split(":", 1)[1]] = value
    return values


HOST_INSTEAD = "--host http://<external-ip>:8501"


def stack_outputs(stack: str, show_secrets: bool = False, instead: str | None = HOST_INSTEAD) -> dict:
    """`pulumi stack output --json` of the project this package belongs to.

    `instead` is the option to suggest in its place; None where there is none (--in-cluster needs the outputs).
    """
    if shutil.which("pulumi") is None:
        fix = f"pass {instead} instead" if instead else "install it (https://www.pulumi.com/docs/install/)"
        raise TargetError(f"The Pulumi CLI is not on PATH, so the stack's outputs cannot be read; {fix}.")
    command = ["pulumi", "stack", "output", "--json", "--stack", stack, "--cwd", str(PROJECT_DIR)]
    if show_secrets:
        command.append("--show-secrets")
    result = _run_once(tuple(command))
    if result.returncode != 0:
        raise TargetError(
            f"`{' '.join(command[:6])}` failed: {result.stderr.strip() or result.stdout.strip()}\n"
            "Deploy the stack first (`pulumi up`), choose another with --stack"
            + (f", or pass {instead}." if instead else ".")
        )
    return json.loads(result.stdout or "{}")


@functools.cache
def _run_once(command: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """The preflight, the watcher and an in-cluster run each need the outputs: ask Pulumi once per process."""
    return subprocess.run(command, capture_output=True, text=True, check=False)


def rest_url(host: str | None, stack: str, instead: str | None = HOST_INSTEAD) -> str:
    """The REST base URL to load: --host as given, or the stack's restUrl output."""
    if host is None:
        outputs = stack_outputs(stack, instead=instead)
        host = outputs.get("restUrl")
        if not host:
            or_host = " or pass --host" if instead else ""
            raise TargetError(f"Stack {stack} has no restUrl output yet; run `pulumi up`{or_host}.")
    parsed = urlparse(host)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise TargetError(f"--host {host!r} is not a URL; write it like http://34.1.2.3:8501.")
    return host.rstrip("/")


def check_prediction(base_url: str, path: str, body: bytes) -> dict:
    """Send one predict and return the answer; raise with the server's own message when it does not predict."""
    # The timeout bounds each read; the deadline the whole answer, which a server may send byte by byte.
    deadline: Deadline[requests.Response] = Deadline(CHECK_TIMEOUT_SECONDS)
    try:
        response = deadline.call(
            lambda: requests.post(
                base_url + path,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=CHECK_TIMEOUT_SECONDS,
            )
        )
    except (requests.RequestException, DeadlineError) as error:
        problem = str(error) if isinstance(error, DeadlineError) else connection_problem(error, CHECK_TIMEOUT_SECONDS)
        raise TargetError(
            f"Cannot reach {base_url}: {problem}.\n"
            "Check the address (pulumi stack output restUrl) and that the service has its external IP, "
            "or pass another --host."
        ) from error
    return checked_answer(base_url + path, response.status_code, response.content)


def checked_answer(where: str, status: int, content: bytes) -> dict:
    """The prediction in an answer, or an error that quotes why the answer is none."""
    reason = model_api.prediction_failure(status, content)
    if reason:
        raise TargetError(f"The model at {where} does not predict: {reason}")
    answer = json.loads(content)
    try:
        model_api.top_labels(answer)
    except model_api.AnswerError as error:
        raise TargetError(f"The model at {where} answered, but {error}") from error
    return answer


def connection_problem(error: requests.RequestException, timeout: float) -> str:
    """One short phrase for what went wrong on the wire, instead of urllib3's nested retry text."""
    if isinstance(error, requests.Timeout):
        return f"no answer within {timeout:g} s"
    text = str(error)
    for marker, phrase in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "unknown host name"),
        ("nodename nor servname", "unknown host name"),
        ("Temporary failure in name resolution", "unknown host name"),
        ("Connection reset", "connection reset by the server"),
        ("RemoteDisconnected", "the server closed the connection without answering"),
        ("No route to host", "no route to host"),
    ):
        if marker in text:
            return phrase
    return type(error).__name__


def predict_once(args: argparse.Namespace) -> tuple[str, str, dict]:
    """The target the arguments name, the predict path, and its answer to the request they describe."""
    image = model_api.load_image(args.image)
    # --in-cluster refuses --host, so it is not suggested there.
    host = rest_url(args.host, args.stack, None if getattr(args, "in_cluster", False) else HOST_INSTEAD)
    path = model_api.predict_path(args.model_name, args.model_version or None)
    return host, path, check_prediction(host, path, model_api.predict_body(image, args.signature))

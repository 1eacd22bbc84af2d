"""Options of the load test, declared once for both `python -m loadtest` and the locustfile."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from loadtest import model_api
from loadtest.shape import LAB_SPAWN_RATE, LAB_STEP_SECONDS, LAB_STEP_USERS, LAB_STEPS, StepLoad

DEFAULT_MAX_FAILURE_RATIO = 0.01
# Far below Locust's 60 s: a lab request takes well under a second, and a stuck one must become a failure
# while the step it belongs to still runs.
DEFAULT_REQUEST_TIMEOUT_SECONDS = 10.0


def positive(kind: type, zero: bool = False) -> Callable[[str], Any]:
    """An argparse type: a number above zero (or zero too), refused in one line that names the value."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(f"{text!r}: give a number above zero{' or zero' if zero else ''}")
        return value

    return parse


# Step options default to None so that a constant load can tell they were not asked for.
STEP_OPTIONS: dict[str, dict[str, Any]] = {
    "--steps": {
        "type": positive(int),
        "metavar": "N",
        "help": f"number of load steps (default: the lab's {LAB_STEPS})",
    },
    "--step-time": {
        "type": positive(float),
        "metavar": "SECONDS",
        "help": f"length of each step (default: the lab's {LAB_STEP_SECONDS:g})",
    },
    "--step-users": {
        "type": positive(int),
        "metavar": "N",
        "help": f"users added at each step (default: the lab's {LAB_STEP_USERS})",
    },
}
REQUEST_OPTIONS: dict[str, dict[str, Any]] = {
    "--image": {"metavar": "PATH", "help": "JPEG or PNG to classify (default: the lab's Grace Hopper photo)"},
    "--model-name": {
        "metavar": "NAME",
        "default": model_api.DEFAULT_MODEL_NAME,
        "help": "served model name (default: %(default)s)",
    },
    "--model-version": {
        "metavar": "VERSION",
        "default": model_api.DEFAULT_MODEL_VERSION,
        "help": "model version in the URL, '' for the latest (default: %(default)s)",
    },
    "--signature": {
        "metavar": "NAME",
        "default": model_api.DEFAULT_SIGNATURE,
        "help": "signature_name (default: %(default)s)",
    },
    "--request-timeout": {
        "type": float,
        "default": DEFAULT_REQUEST_TIMEOUT_SECONDS,
        "metavar": "SECONDS",
        "help": "a request without an answer after this long counts as a failure (default: %(default)s)",
    },
}
VERDICT_OPTIONS: dict[str, dict[str, Any]] = {
    "--max-failure-ratio": {
        "type": float,
        "default": DEFAULT_MAX_FAILURE_RATIO,
        "metavar": "RATIO",
        "help": "exit 1 when failures / requests exceeds this, a fraction from 0 to 1 (default: %(default)s, i.e. 1%%)",
    },
}
FORWARDED_OPTIONS = {**STEP_OPTIONS, **REQUEST_OPTIONS, **VERDICT_OPTIONS}
SPAWN_RATE_HELP = f"users started per second (default: the lab's {LAB_SPAWN_RATE:g})"


def add_options(parser: Any, options: dict[str, dict[str, Any]], title: str) -> Any:
    """Add options to an argparse or configargparse (Locust's) parser, in a group of their own; the group."""
    group = parser.add_argument_group(title)
    for flag, spec in options.items():
        group.add_argument(flag, **spec)
    return group


def step_load(values: Any, spawn_rate: float = LAB_SPAWN_RATE) -> StepLoad:
    """The step load the STEP_OPTIONS' values ask for; the lab's value for each left out."""
    return StepLoad(
        values.steps or LAB_STEPS,
        values.step_time or LAB_STEP_SECONDS,
        values.step_users or LAB_STEP_USERS,
        spawn_rate,
    )


def dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def forward(values: Any) -> list[str]:
    """The Locust command-line arguments that carry these options' values to the locustfile."""
    argv: list[str] = []
    for flag in FORWARDED_OPTIONS:
        value = getattr(values, dest(flag))
        if value is not None:
            argv += [flag, str(value)]
    return argv

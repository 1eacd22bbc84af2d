"""`python -m loadtest.predict`: one prediction, as the lab's curl step, with the top-5 labels."""

from __future__ import annotations

import argparse
import sys

from loadtest import model_api, verdict
from loadtest.deadline import end_process
from loadtest.options import REQUEST_OPTIONS, add_options
from loadtest.target import TargetError, add_target_arguments, predict_once


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.predict",
        description="Send one predict request to the deployed model and print its top-5 labels.",
    )
    add_target_arguments(parser)
    add_options(parser, REQUEST_OPTIONS, "request")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        host, path, answer = predict_once(args)
    except (TargetError, model_api.ImageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return end_process(verdict.COULD_NOT_START)
    except KeyboardInterrupt:
        print("Interrupted: no prediction was made.", file=sys.stderr)
        return end_process(verdict.INTERRUPTED)
    print(f"POST {host}{path}")
    for label, probability in model_api.top_labels(answer)[:5]:
        print(f"{probability:8.2%}  {label}")
    return verdict.PASSED


if __name__ == "__main__":
    sys.exit(main())

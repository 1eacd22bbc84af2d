"""`python -m loadtest.predict`: one prediction, as the lab's curl step, with the top-5 labels."""

from __future__ import annotations

import argparse
import sys

from loadtest import model_api
from loadtest.deadline import end_process
from loadtest.options import REQUEST_OPTIONS, add_options
from loadtest.target import TargetError, add_target_arguments, predict_once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.predict",
        description="Send one predict request to the deployed model and print its top-5 labels.",
    )
    add_target_arguments(parser)
    add_options(parser, REQUEST_OPTIONS, "request")
    args = parser.parse_args(argv)
    try:
        host, path, answer = predict_once(args)
    except (TargetError, model_api.ImageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return end_process(2)
    except KeyboardInterrupt:
        print("Interrupted: no prediction was made.", file=sys.stderr)
        return end_process(130)
    print(f"POST {host}{path}")
    for label, probability in model_api.top_labels(answer)[:5]:
        print(f"{probability:8.2%}  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

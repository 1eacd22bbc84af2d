"""One log format for every tool of the project (the watcher, a load test's watcher, the rehearsal), in the style
of Locust's own lines, so that a run's output reads as one."""

from __future__ import annotations

import logging

LOG_FORMAT = "[%(asctime)s] %(levelname)s/%(name)s: %(message)s"


def show_logs(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT)

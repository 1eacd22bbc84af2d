"""A deadline for a whole call, where each read has only a timeout of its own.

A server that sends its answer byte by byte never lets a read timeout expire; only a deadline for the whole
call bounds it. The call runs in a thread of its own; past the deadline the caller stops waiting, and the
thread is left to finish by itself. A process with such a thread still reading ends through end_process.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class DeadlineError(TimeoutError):
    """The call gave no complete result within its deadline."""


class _Call(Generic[T]):
    left_running: list[_Call] = []  # noqa: RUF012 - one list for the process, on purpose

    def __init__(self, function: Callable[[], T]) -> None:
        self.done = threading.Event()
        self._result: T | None = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._result = function()
            except BaseException as error:  # handed to the caller, who raises it
                self._error = error
            finally:
                self.done.set()

        threading.Thread(target=run, daemon=True).start()

    def result(self) -> T:
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]


class Deadline(Generic[T]):
    """Calls `function` with a deadline; refuses a new call while one given up is still running."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._running: _Call | None = None

    def call(self, function: Callable[[], T]) -> T:
        if self._running is not None and not self._running.done.is_set():
            raise DeadlineError("the previous call given up is still waiting for its answer")
        attempt: _Call[T] = _Call(function)
        self._running = attempt
        try:
            finished = attempt.done.wait(self.seconds)
        except BaseException:
            # Ctrl+C while waiting: the call goes on reading, so end_process must know of it.
            _Call.left_running.append(attempt)
            raise
        if not finished:
            _Call.left_running.append(attempt)
            raise DeadlineError(f"no complete answer within {self.seconds:g} s")
        return attempt.result()


def end_process(code: int) -> int:
    """Return `code`; but where a call given up still hangs on its read, end the process here, output flushed.

    Such a thread cannot be stopped, and CPython's shutdown aborts on it (SIGABRT, seen with 3.11 and urllib3
    under the kubernetes client), which would turn a clean verdict into a crash.
    """
    if any(not call.done.is_set() for call in _Call.left_running):
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code

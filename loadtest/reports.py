"""The report folder: checked writable before any work, and listed with what this run wrote in it."""

from __future__ import annotations

import datetime
import os
from pathlib import Path


class ReportDirError(OSError):
    """The report folder cannot be created or written; the message says which and why."""


def default_report_dir() -> Path:
    return Path("reports") / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def check_report_dir(path: Path) -> Path:
    """Refuse a folder that cannot be made or written, before any work, without creating it yet."""
    existing = next(parent for parent in (path, *path.parents) if parent.exists())
    if not existing.is_dir():
        problem = f"{existing} is a file, not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable"
    else:
        return path
    raise ReportDirError(f"--report-dir {path}: {problem}; choose another folder.")


def create_report_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportDirError(f"--report-dir {path}: cannot create it ({error.strerror or error}).") from error
    return path


def written_since(path: Path, started: float) -> tuple[list[str], int]:
    """The files this run wrote (modified since `started`), and how many older ones an earlier run left."""
    files = [item for item in path.iterdir() if item.is_file() and not item.name.startswith(".")]
    new = sorted(item.name for item in files if item.stat().st_mtime >= started)
    return new, len(files) - len(new)


def describe(path: Path, started: float) -> str:
    new, older = written_since(path, started)
    line = f"Reports in {path}/: {', '.join(new) or 'none'}"
    if older:
        line += f" ({older} older file(s) from an earlier run left there)"
    return line

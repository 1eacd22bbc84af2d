"""One minimum Python, pyproject.toml's: the pages say it, ruff targets it, and the scripts that make a virtualenv
refuse an older python3 in one line before pip fails on a pin."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.documented import PROJECT_DIR, page_texts

PYPROJECT = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
MINIMUM = PYPROJECT["tool"]["pyright"]["pythonVersion"]


def test_ruff_and_the_pages_say_the_same_minimum():
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py" + MINIMUM.replace(".", "")
    said = {
        (name, version)
        for name, text in page_texts()
        for version in re.findall(r"Python (3\.\d+)(?:\+| or newer)", re.sub(r"\s+", " ", text))
    }
    assert {"README.md", "docs/deploy.md", "docs/testing.md"} <= {name for name, _ in said}, said
    assert {version for _, version in said} == {MINIMUM}, said


def older_python(tmp_path: Path, version: tuple[int, int]) -> dict[str, str]:
    """A PATH whose python3 is this interpreter, reporting `version` as its own to the code it runs."""
    script = tmp_path / "python3"
    script.write_text(
        "#!/bin/sh\n"
        'test "$1" = -c || exit 2\n'
        f'exec {sys.executable} -c "import sys; sys.version_info = {version}; exec(sys.argv[1])" "$2"\n'
    )
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}


@pytest.mark.parametrize("script", ["tests/venv.sh", "tools/lock.sh"])
def test_an_older_python_is_refused_in_one_line_before_any_install(tmp_path, script):
    result = subprocess.run(
        ["bash", script], cwd=PROJECT_DIR, env=older_python(tmp_path, (3, 10)), capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"python3 is 3.10; the pinned packages need Python {MINIMUM} or newer: install it and put it first on PATH "
        f"(or run with PATH=/path/to/python{MINIMUM}/bin:$PATH)."
    ]

"""The commands the README and the docs pages show, found once for the tests that run them (fabric's habit: every
example a reader may paste is a test)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
PAGES = sorted([PROJECT_DIR / "README.md", PROJECT_DIR / "benchmarks" / "README.md", *PROJECT_DIR.glob("docs/*.md")])


def page_texts() -> list[tuple[str, str]]:
    """Each page's name and its text with shell line continuations joined."""
    return [(str(page.relative_to(PROJECT_DIR)), page.read_text().replace("\\\n", " ")) for page in PAGES]


def words_of(rest: str) -> list[str]:
    """A command's words, up to a comment, a pipe, a redirection, the next command or the end of a parenthesis in
    prose; placeholders (<key>) stay as written, without their brackets."""
    return shlex.split(re.split(r"\s+#|\s\||\s&&|\s>|[);`]", rest)[0].replace("<", "").replace(">", ""))


def commands(pattern: str) -> list[tuple[str, str, list[str]]]:
    """(page, what the pattern's first group caught, the words after it) for each match of `pattern`."""
    found = []
    for name, text in page_texts():
        for match in re.finditer(pattern, text):
            found.append((name, match[1], words_of(text[match.end() :].split("\n", 1)[0])))
    return found

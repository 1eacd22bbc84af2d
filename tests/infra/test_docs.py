"""The README and the docs pages say what the code does: links resolve, the settings table is Pulumi.yaml's, every
command of ours parses with its module's own parser, and the checkov exceptions are the annotations' own."""

import importlib
import re
import shlex
import subprocess
import sys

import pytest

from tests.infra.harness import PROJECT_DIR, run_program, stack_config

PAGES = sorted([PROJECT_DIR / "README.md", PROJECT_DIR / "benchmarks" / "README.md", *PROJECT_DIR.glob("docs/*.md")])
# `python -m <module>` of this repository, in a code block or inline code; the module's build_parser() parses it.
OUR_COMMAND = re.compile(r"(?:\.venv/bin/)?python3? -m (loadtest(?:\.\w+)?|localcluster(?:\.\w+)?)\b([^`\n]*)")
PARSERS = {
    "loadtest": "loadtest.cli",
    "loadtest.predict": "loadtest.predict",
    "loadtest.watch": "loadtest.watch",
    "localcluster": "localcluster.__main__",
    "localcluster.rehearse": "localcluster.rehearse",
    "localcluster.build": "localcluster.build",
}


def test_the_readme_is_a_front_door_of_at_most_10_kb():
    assert len((PROJECT_DIR / "README.md").read_bytes()) <= 10 * 1024


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(PROJECT_DIR)))
def test_every_relative_link_resolves(page):
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    missing = [t for t in targets if "://" not in t and not (page.parent / t).exists()]
    assert missing == []


def test_the_settings_page_is_generated_from_pulumi_yaml():
    check = subprocess.run(
        [sys.executable, "tools/settings_table.py", "--check"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def documented_commands() -> list[tuple[str, str, list[str]]]:
    found = []
    for page in PAGES:
        for module, rest in OUR_COMMAND.findall(page.read_text()):
            # Up to a comment, a pipe, a redirection, the next command or the end of a parenthesis in prose;
            # placeholders stay as written.
            words = shlex.split(re.split(r"\s+#|\s\||\s&&|\s>|[);]", rest)[0].replace("<", "").replace(">", ""))
            found.append((str(page.relative_to(PROJECT_DIR)), module, words))
    return found


@pytest.mark.parametrize(("page", "module", "words"), documented_commands(), ids=lambda value: str(value)[:60])
def test_every_documented_command_parses_with_its_modules_options(page, module, words, capsys):
    assert module in PARSERS, f"{page}: `python -m {module}` is no module of ours"
    parser = importlib.import_module(PARSERS[module]).build_parser()
    try:
        parser.parse_args(words)
    except SystemExit as refused:  # --help exits 0; a refusal exits 2 with the reason on stderr
        assert refused.code == 0, f"{page}: `python -m {module} {' '.join(words)}`: {capsys.readouterr().err}"


def test_the_checkov_exceptions_listed_are_the_annotations():
    rows = re.findall(r"^\| (\w+) `([^`]+)` \| (CKV_K8S_\d+)", (PROJECT_DIR / "docs" / "security.md").read_text(), re.M)
    documented = {(kind, name.replace("<revision>", ""), check) for kind, name, check in rows}
    annotated = set()
    for stack in ("dev", "prod", "gpu"):
        for resource in run_program(stack_config(stack), stack=stack).resources:
            metadata = resource.inputs.get("metadata") if isinstance(resource.inputs, dict) else None
            if not isinstance(metadata, dict):
                continue
            name = re.sub(r"-[0-9a-f]{10}$", "-", metadata["name"])  # a Job's name ends in its revision
            for key, value in (metadata.get("annotations") or {}).items():
                if key.startswith("checkov.io/skip"):
                    annotated.add((resource.type.rsplit(":", 1)[-1], name, value.split("=", 1)[0]))
    assert documented == annotated

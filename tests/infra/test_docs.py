"""The README and the docs pages say what the code does: links resolve, the reference tables are the code's, every
command a reader may paste parses with its own parser or names what exists, and the checkov exceptions are the
annotations' own. Locust command lines are parsed by Locust itself, in tests/loadtest/test_documented_locust.py."""

import importlib
import re
import subprocess
import sys

import pytest
import yaml

from localcluster.versions import COLD_BUILD_MINUTES
from tests.documented import PAGES, PROJECT_DIR, commands, page_texts
from tests.infra.harness import run_program, stack_config

# `python -m <module>` of this repository, in a code block or inline code; the module's build_parser() parses it.
OUR_MODULE = r"(?:\.venv/bin/)?python3? -m (loadtest(?:\.\w+)?|localcluster(?:\.\w+)?)\b"
PARSERS = {
    "loadtest": "loadtest.cli",
    "loadtest.predict": "loadtest.predict",
    "loadtest.watch": "loadtest.watch",
    "loadtest.plan": "loadtest.plan",
    "localcluster": "localcluster.__main__",
    "localcluster.rehearse": "localcluster.rehearse",
    "localcluster.build": "localcluster.build",
}
# `python benchmarks/<script>.py`: the script's build_parser() parses it.
BENCHMARK = r"(?:\.venv[-\w]*/bin/)?python3? (benchmarks/\w+\.py)"
# `bash <script>` and `python tools/<tool>.py`: the script exists.
SCRIPT = r"(?:bash|python3?|\.venv/bin/python) ((?:tests|tools|\.ci)/[\w/.-]+)"
PULUMI_CONFIG_SET = r"pulumi config set (?:--path )?'?([\w:<>]+)"


def test_the_readme_is_a_front_door_of_at_most_10_kb():
    assert len((PROJECT_DIR / "README.md").read_bytes()) <= 10 * 1024


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(PROJECT_DIR)))
def test_every_relative_link_resolves(page):
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    missing = [t for t in targets if "://" not in t and not (page.parent / t).exists()]
    assert missing == []


def test_the_reference_tables_are_generated_from_the_code():
    check = subprocess.run(
        [sys.executable, "tools/doc_tables.py", "--check"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize(("page", "module", "words"), commands(OUR_MODULE), ids=lambda value: str(value)[:60])
def test_every_documented_command_parses_with_its_modules_options(page, module, words, capsys):
    assert module in PARSERS, f"{page}: `python -m {module}` is no module of ours"
    parse(importlib.import_module(PARSERS[module]).build_parser(), f"{page}: python -m {module}", words, capsys)


@pytest.mark.parametrize(("page", "script", "words"), commands(BENCHMARK), ids=lambda value: str(value)[:60])
def test_every_documented_benchmark_command_parses_with_its_scripts_options(page, script, words, capsys):
    assert (PROJECT_DIR / script).is_file(), f"{page}: {script} does not exist"
    module = importlib.import_module(script.removesuffix(".py").replace("/", "."))
    parse(module.build_parser(), f"{page}: python {script}", words, capsys)


def parse(parser, command: str, words: list[str], capsys) -> None:
    try:
        parser.parse_args(words)
    except SystemExit as refused:  # --help exits 0; a refusal exits 2 with the reason on stderr
        assert refused.code == 0, f"{command} {' '.join(words)}: {capsys.readouterr().err}"


def test_every_documented_script_exists():
    scripts = commands(SCRIPT)
    assert len(scripts) >= 4
    assert [(page, script) for page, script, _ in scripts if not (PROJECT_DIR / script).is_file()] == []


def test_every_setting_a_page_sets_is_a_setting_of_the_project():
    declared = set(yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"])
    keys = [(page, key) for page, text in page_texts() for key in re.findall(PULUMI_CONFIG_SET, text)]
    assert len(keys) >= 5
    allowed = {"gcp:project", "<key>"}
    unknown = [(page, key) for page, key in keys if key not in allowed and key.split("[")[0] not in declared]
    assert unknown == []


def test_every_page_gives_the_measured_cold_build_time():
    """One figure, localcluster/versions.py's: a page that says how long the first build takes says that."""
    said = {
        (name, int(minutes))
        for name, text in [*page_texts(), ("tests/engine/run.sh", (PROJECT_DIR / "tests/engine/run.sh").read_text())]
        for minutes in re.findall(r"about (\d+) minutes(?: cold| the first time)", re.sub(r"\s+", " ", text))
    }
    assert len(said) >= 4, said
    assert {minutes for _, minutes in said} == {COLD_BUILD_MINUTES}, said


COST_ROWS = {
    "`dev`, CPU (`n1-standard-4`)": ("dev", {}),
    "`dev` with `spotNodes`": ("dev", {"spotNodes": True}),
    "`gpu`, T4 (`n1-standard-4` + T4)": ("gpu", {}),
    "`gpu` with `spotNodes`": ("gpu", {"spotNodes": True}),
    "`prod` (`n2-standard-8`, 2 replicas and a spare: 3 serving nodes at rest, 8 at most)": ("prod", {}),
}


def test_the_cost_figures_the_pages_give_are_what_the_program_exports():
    rows = {
        row[0].strip(): (row[2].strip(), row[3].strip())
        for row in (line.split("|")[1:] for line in (PROJECT_DIR / "docs" / "cost.md").read_text().splitlines())
        if len(row) > 3
    }
    for label, (stack, settings) in COST_ROWS.items():
        cost = run_program(stack_config(stack, **settings), stack=stack).outputs["estimatedCostPerHour"]
        assert rows[label] == (f"${cost['atRestUsd']:.2f}", f"${cost['atFullScaleUsd']:.2f}"), label
    dev = run_program(stack_config("dev")).outputs["estimatedCostPerHour"]
    readme = (PROJECT_DIR / "README.md").read_text().replace("\n", " ")
    assert f"about ${dev['atRestUsd']:.2f} an hour at rest and ${dev['atFullScaleUsd']:.2f} at full" in readme


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


def test_the_plan_pages_worked_arithmetic_is_the_tools_output():
    """The figures docs/plan.md spells out are those of its generated example (tools/doc_tables.py checks that)."""
    text = (PROJECT_DIR / "docs" / "plan.md").read_text()
    prose, example = text.split("<!-- worked example: generated", 1)
    for figure in ("6.00 requests/s", "0.300 CPU-s a request", "9 replicas", "$2.16", "$11.98"):
        assert figure in prose.split("## A worked example", 1)[1] and figure in example, figure

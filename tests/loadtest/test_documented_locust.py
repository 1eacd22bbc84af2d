"""Every `locust -f` line of the README and docs parses with Locust's own parser, our locustfile's options added as
Locust adds them (its init_command_line_parser event), so a reader who pastes one gets a run, not a usage error."""

import importlib

import pytest
from locust.argument_parser import get_parser

from tests.documented import PROJECT_DIR, commands

LOCUST = r"(?:\.venv/bin/)?locust -f ([\w/.]+\.py)"


def test_the_pages_show_locust_lines():
    assert len(commands(LOCUST)) >= 2


@pytest.mark.parametrize(("page", "locustfile", "words"), commands(LOCUST), ids=lambda value: str(value)[:60])
def test_every_documented_locust_line_parses(page, locustfile, words, capsys):
    assert (PROJECT_DIR / locustfile).is_file(), f"{page}: {locustfile} does not exist"
    # Importing the locustfile registers its options' listener, as `locust -f` does before it parses.
    importlib.import_module(locustfile.removesuffix(".py").replace("/", "."))
    try:
        get_parser(default_config_files=[]).parse_args(["-f", locustfile, *words])
    except SystemExit:
        pytest.fail(f"{page}: locust -f {locustfile} {' '.join(words)}: {capsys.readouterr().err}")

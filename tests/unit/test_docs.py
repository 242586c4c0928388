"""The documentation stays true: every template parameter and CLI command documented, links that
resolve, the cost table from its formula, no text the project outgrew."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from dynamodb_dr_local import PROJECT_ROOT
from dynamodb_dr_local.cli import build_parser
from dynamodb_dr_local.cost import table as cost_table
from dynamodb_dr_local.emulator.stack import load_sam_template

DOCS = PROJECT_ROOT / "docs"
PAGES = [PROJECT_ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_template_parameter_is_in_the_deploy_table() -> None:
    deploy = (DOCS / "deploy.md").read_text()
    rows = set(re.findall(r"^\| `([A-Za-z]+)`", deploy, flags=re.M))
    rows |= set(re.findall(r"^\| `[A-Za-z]+` / `([A-Za-z]+)`", deploy, flags=re.M))
    missing = sorted(set(load_sam_template()["Parameters"]) - rows)
    assert not missing, f"document these parameters in docs/deploy.md: {missing}"


def test_every_cli_command_is_in_the_cli_reference() -> None:
    reference = (DOCS / "cli.md").read_text()
    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    missing = [name for name in commands if f"`{name}" not in reference]
    assert not missing, f"document these commands in docs/cli.md: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = [
        target
        for target in LINK.findall(page.read_text())
        if "://" not in target and not (page.parent / target).exists()
    ]
    assert not broken, f"{page.name}: broken links {broken}"


def test_the_cost_table_is_what_the_formula_gives() -> None:
    text = (DOCS / "cost.md").read_text()
    block = text.split("<!-- cost:table:start -->")[1].split("<!-- cost:table:end -->")[0].strip()
    assert block == cost_table(), "run `python -m dynamodb_dr_local.cost` and paste the table"


@pytest.mark.parametrize(
    ("page", "stale"),
    [
        ("README.md", "as the project grows"),
        ("docs/monitoring.md", "is not automated"),
        ("README.md", "## Performance"),  # moved to docs/performance.md
    ],
)
def test_text_the_project_outgrew_is_gone(page: str, stale: str) -> None:
    assert stale not in (PROJECT_ROOT / page).read_text()


def test_the_readme_is_a_five_minute_read() -> None:
    words = len((PROJECT_ROOT / "README.md").read_text().split())
    assert words < 1400, f"README has {words} words: move detail to docs/"


def test_license_matches_the_package_metadata() -> None:
    license_text = (PROJECT_ROOT / "LICENSE").read_text()
    declared = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert declared == {"text": "Apache-2.0"}
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert (PROJECT_ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")

"""The CLI's one stack lookup: --stack, then $DYNAMODB_DR_STACK, then samconfig.toml from the cwd up."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import pytest

from dynamodb_dr_local import PROJECT_ROOT
from dynamodb_dr_local.errors import CliError
from dynamodb_dr_local.stack_lookup import STACK_ENV, command_hint, resolve_stack_name

SAMCONFIG = """\
version = 0.1
[default.global.parameters]
stack_name = "from-default"
[prod.deploy.parameters]
stack_name = "from-prod-deploy"
[empty.build.parameters]
cached = true
"""


def args(**values: object) -> argparse.Namespace:
    base: dict[str, object] = {"stack": None, "config_env": "default", "region": None, "endpoint_url": None}
    return argparse.Namespace(**{**base, **values})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "samconfig.toml").write_text(SAMCONFIG)
    nested = tmp_path / "ops" / "runbooks"
    nested.mkdir(parents=True)
    return nested


def test_flag_wins_over_environment_and_samconfig(project: Path) -> None:
    found = resolve_stack_name(args(stack="flagged"), cwd=project, environ={STACK_ENV: "from-env"})
    assert (found.name, found.source) == ("flagged", "--stack")


def test_environment_wins_over_samconfig(project: Path) -> None:
    found = resolve_stack_name(args(), cwd=project, environ={STACK_ENV: " from-env "})
    assert (found.name, found.source) == ("from-env", f"${STACK_ENV}")


def test_samconfig_is_found_from_a_subfolder_for_the_config_env(project: Path) -> None:
    assert resolve_stack_name(args(), cwd=project, environ={}).name == "from-default"
    prod = resolve_stack_name(args(config_env="prod"), cwd=project, environ={})
    assert prod.name == "from-prod-deploy" and "[prod]" in prod.source


def test_the_repository_samconfig_names_the_dev_stack() -> None:
    assert resolve_stack_name(args(), cwd=PROJECT_ROOT / "cli", environ={}).name == "dynamodb-dr-dev"


@pytest.mark.parametrize(
    ("config_env", "expected"),
    [
        ("staging", "has no environment 'staging' (it has: default, prod, empty)"),
        ("empty", "sets no stack_name"),
    ],
)
def test_unknown_or_nameless_config_env_is_refused_not_ignored(
    project: Path, config_env: str, expected: str
) -> None:
    with pytest.raises(CliError) as error:
        resolve_stack_name(args(config_env=config_env), cwd=project, environ={})
    assert expected in str(error.value)
    assert error.value.exit_code == 2


def test_no_stack_anywhere_says_how_to_give_one(tmp_path: Path) -> None:
    with pytest.raises(CliError) as error:
        resolve_stack_name(args(), cwd=tmp_path, environ={})
    line = error.value.line()
    assert "no stack given" in line and "--stack NAME" in line and STACK_ENV in line
    assert "\n" not in line


def test_a_broken_samconfig_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "samconfig.toml").write_text("[default\nstack_name=")
    with pytest.raises(CliError) as error:
        resolve_stack_name(args(), cwd=tmp_path, environ={})
    assert "cannot read" in str(error.value)


def test_hints_repeat_the_flags_that_chose_the_stack() -> None:
    hint = command_hint(args(stack="my stack", endpoint_url="http://127.0.0.1:4566"), "approve", "r1")
    assert shlex.split(hint) == [
        "dynamodb-dr",
        "approve",
        "r1",
        "--stack",
        "my stack",
        "--endpoint-url",
        "http://127.0.0.1:4566",
    ]
    assert command_hint(args(config_env="prod"), "follow", "r1") == "dynamodb-dr follow r1 --config-env prod"
    assert command_hint(args(), "follow", "r1") == "dynamodb-dr follow r1"

"""The README's local walkthrough, run as written: each line a subprocess against `dynamodb-dr local`.

`export` lines go through bash (so `$PWD` expands as in a terminal); `dynamodb-dr` lines run with
the resulting environment and must end with the exit code their comment names (`# exit N`,
default 0). The only change to the text is the port: the test's server listens on a free one.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dynamodb_dr_local import PROJECT_ROOT

pytestmark = pytest.mark.integration

README = PROJECT_ROOT / "README.md"
START, END = "<!-- walkthrough:start -->", "<!-- walkthrough:end -->"
EXIT = re.compile(r"#\s*exit (\d+)")


def walkthrough() -> list[str]:
    text = README.read_text()
    block = text[text.index(START) : text.index(END)]
    lines = block.split("```bash", 1)[1].rsplit("```", 1)[0].strip().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def local_server() -> Iterator[int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DYNAMODB_DR_"))}
    server = subprocess.Popen(
        [str(PROJECT_ROOT / ".venv/bin/dynamodb-dr"), "local", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        assert server.stdout is not None
        for line in server.stdout:
            if line.strip().startswith("export AWS_ENDPOINT_URL="):
                break
            assert time.monotonic() < deadline, "dynamodb-dr local did not come up"
        else:
            raise AssertionError(f"dynamodb-dr local exited: {server.stderr.read() if server.stderr else ''}")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def exported(line: str, env: dict[str, str]) -> dict[str, str]:
    """The environment after an `export` line, as bash leaves it."""
    result = subprocess.run(
        ["bash", "-c", f"{line}\nenv -0"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(entry.split("=", 1) for entry in result.stdout.split("\0") if "=" in entry)


def test_the_readme_walkthrough_runs_as_written(local_server: int) -> None:
    lines = walkthrough()
    assert any(line.startswith("dynamodb-dr restore ") for line in lines)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DYNAMODB_DR_"))}
    env["HOME"] = env.get("HOME", "/tmp")
    ran = []
    for line in lines:
        if line.startswith("export "):
            env = exported(line.replace(":4566", f":{local_server}"), env)
            continue
        assert line.startswith("dynamodb-dr "), f"unexpected walkthrough line: {line}"
        expected = int(m.group(1)) if (m := EXIT.search(line)) else 0
        command = shlex.split(line, comments=True)
        result = subprocess.run(
            command, check=False, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == expected, f"{line}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        ran.append((command[1], result))
    outputs = {name: [r for n, r in ran if n == name] for name, _ in ran}
    first, misspelled = outputs["restore"]
    assert "waiting for approval: `dynamodb-dr approve first-restore`" in first.stdout
    assert "TableNotProtected: table 'custmers'" in misspelled.stderr
    assert "first-restore SUCCEEDED" in outputs["approve"][0].stdout
    assert "rolled back first-restore" in outputs["rollback"][0].stdout
    assert "INSERT" in outputs["item"][0].stdout
    assert "Rebuilt customers-rebuilt" in outputs["restore-from-s3"][0].stdout


def test_the_walkthrough_lines_are_the_ones_the_cli_prints(tmp_path: Path) -> None:
    """The export line in the README is the one `local` prints (same variables, same order)."""
    from dynamodb_dr_local.commands.local import exports

    line = next(line for line in walkthrough() if line.startswith("export AWS_ENDPOINT_URL"))
    printed = "export " + " ".join(
        f"{k}={v}" for k, v in exports("http://127.0.0.1:4566", "us-east-1", "dynamodb-dr-dev").items()
    )
    assert line == printed

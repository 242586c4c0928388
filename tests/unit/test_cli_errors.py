"""Every failure is one line with a hint and a documented exit code: never a traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from dynamodb_dr.core.errors import RebuildFailed, TableNotProtected
from dynamodb_dr_local.cli import describe_failure, main
from dynamodb_dr_local.commands.restore_control import rollback_name, task_in_flight
from dynamodb_dr_local.commands.restore_follow import error_line


def _refused(exc: RebuildFailed) -> RebuildFailed:
    exc.changed_nothing = True
    return exc


def client_error(code: str, message: str = "nope", operation: str = "StartExecution") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize(
    ("exc", "exit_code", "expected"),
    [
        (NoCredentialsError(), 2, "NoCredentials: no AWS credentials found; set AWS_PROFILE"),
        (NoRegionError(), 2, "NoRegion: no AWS region configured; pass --region or set AWS_DEFAULT_REGION"),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:4566"),
            2,
            "EndpointUnreachable: cannot reach http://127.0.0.1:4566; is `dynamodb-dr local` running?",
        ),
        (client_error("ExpiredTokenException"), 2, "ExpiredTokenException: the session has expired"),
        (
            client_error("AccessDeniedException", "not authorized to perform: states:StartExecution"),
            1,
            "AccessDeniedException: not authorized to perform: states:StartExecution (StartExecution); "
            "your role lacks this permission",
        ),
        (client_error("ThrottlingException", "Rate exceeded"), 1, "ThrottlingException: Rate exceeded"),
        (TableNotProtected("table 'x' is not protected"), 2, "TableNotProtected: table 'x' is not protected"),
        (
            _refused(RebuildFailed("bucket b does not exist (wrong name or region?)")),
            2,
            "RebuildFailed: bucket",
        ),
        (RebuildFailed("import failed midway"), 1, "RebuildFailed: import failed midway"),
        (
            KeyError("old"),
            1,
            "internal error: KeyError: 'old'; this is a bug; re-run with DYNAMODB_DR_DEBUG=1",
        ),
    ],
)
def test_failures_are_one_line_with_a_hint_and_an_exit_code(
    exc: Exception, exit_code: int, expected: str
) -> None:
    error = describe_failure(exc)
    line = error.line()
    assert error.exit_code == exit_code
    assert line.startswith("dynamodb-dr: ") and expected in line
    assert "\n" not in line and "Traceback" not in line


def test_main_prints_one_line_for_an_unexpected_error(monkeypatch, capsys) -> None:
    def boom(args: object) -> int:
        raise RuntimeError("disk on fire")

    from dynamodb_dr_local.commands import status

    monkeypatch.setattr(status, "_run", boom)
    assert main(["status", "--stack", "x"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: disk on fire" in err


def test_version_flag(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("dynamodb-dr 0.")


def test_state_machine_errors_print_as_name_and_message_never_the_stack_trace() -> None:
    cause = json.dumps(
        {
            "errorType": "RestoreRequestInvalid",
            "errorMessage": "point-in-time recovery is off on customers",
            "stackTrace": ['  File "/var/task/app.py", line 53, in lambda_handler\n'],
        }
    )
    assert error_line("RestoreRequestInvalid", cause) == (
        "RestoreRequestInvalid: point-in-time recovery is off on customers"
    )
    assert error_line("RestoreStopped", "stopped by operator") == "RestoreStopped: stopped by operator"
    assert error_line("States.Timeout", None) == "States.Timeout"


def test_rollback_names_never_repeat_so_a_failed_rollback_can_be_retried() -> None:
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    names = {rollback_name("restore-20261126T095900Z-ab12", now) for _ in range(20)}
    assert len(names) > 1
    assert all(len(n) <= 80 and n.startswith("rollback-restore-2026") for n in names)
    assert len(rollback_name("x" * 80, now)) <= 80


def test_task_in_flight_names_the_unanswered_state() -> None:
    def entered(name: str) -> dict[str, object]:
        return {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}}

    done = [entered("ValidateRequest"), {"type": "TaskScheduled"}, {"type": "TaskSucceeded"}]
    assert task_in_flight(done) is None
    assert task_in_flight([*done, entered("StartRestores"), {"type": "TaskScheduled"}]) == "StartRestores"


def test_missing_credentials_say_so_in_one_line(tmp_path) -> None:
    """As an operator sees it: a real process, no credentials anywhere, no instance metadata."""
    import os
    import subprocess

    from dynamodb_dr_local import PROJECT_ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DYNAMODB_DR_"))}
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    result = subprocess.run(
        [str(PROJECT_ROOT / ".venv/bin/dynamodb-dr"), "status", "--stack", "prod-dr"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("dynamodb-dr: NoCredentials: no AWS credentials found; set AWS_PROFILE")

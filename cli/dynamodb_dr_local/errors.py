"""The CLI's exit codes and the errors commands raise on purpose (printed as one line, no traceback).

Exit codes (documented in docs/operations.md and kept stable for scripts):
  0    done (restore succeeded, drill passed, every table ok)
  1    a restore or drill failed, an objective is missed, or AWS refused an operation mid-way
  2    bad input, environment or a named refusal of the tool before anything changed (no
       credentials, unknown table, time outside the window, live target without --force,
       missing bucket...)
  130  interrupted (Ctrl-C); a restore already started goes on in AWS
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """Bad input or environment, detected before anything changed: one line, exit 2.

    `name` prefixes the line (an AWS error code or the tool's error name); `hint` says what to do
    next, ideally a command that works when pasted."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, hint: str | None = None, name: str = "error") -> None:
        super().__init__(message)
        self.hint = hint
        self.name = name

    def line(self) -> str:
        text = f"dynamodb-dr: {self.name}: {self}"
        return f"{text}; {self.hint}" if self.hint else text


class OperationFailed(CliError):
    """Something started and then failed (AWS refused a call, a restore failed): exit 1."""

    exit_code = EXIT_FAILED


class Interrupted(CliError):
    """Ctrl-C: what was interrupted and what still runs elsewhere, exit 130."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, name="interrupted")

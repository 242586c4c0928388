"""Developer-side tools of dynamodb-dr: the CLI, the DR drill and the local AWS emulator.

Never shipped in the Lambda layer.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

"""Notifications on the restore topic (reports, approval requests, failures, a missed RTO)."""

from __future__ import annotations

import json
from typing import Any

from dynamodb_dr.core.aws import aws_errors
from dynamodb_dr.restore.env import StepEnv

SUBJECT_LIMIT = 100


def notify(env: StepEnv, subject: str, message: dict[str, Any] | str) -> bool:
    """Publish when the stack has a restore topic; False when it has none."""
    if not env.topic_arn:
        return False
    body = message if isinstance(message, str) else json.dumps(message, indent=2, default=str)
    with aws_errors():
        env.clients.client("sns").publish(
            TopicArn=env.topic_arn, Subject=subject[:SUBJECT_LIMIT], Message=body
        )
    return True

"""Embedded AWS emulator (moto) running the project's handlers, template and state machines."""

from dynamodb_dr_local.emulator.core import ACCOUNT_ID, REGION, Emulator
from dynamodb_dr_local.emulator.handlers import HandlerRouter, Invocation
from dynamodb_dr_local.emulator.stack import DeployedStack, transform_template

__all__ = [
    "ACCOUNT_ID",
    "REGION",
    "DeployedStack",
    "Emulator",
    "HandlerRouter",
    "Invocation",
    "transform_template",
]

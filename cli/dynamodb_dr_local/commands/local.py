"""`dynamodb-dr local`: serve the emulated account with the stack deployed, for hands-on use."""

from __future__ import annotations

import argparse
import threading
from typing import Any

from dynamodb_dr_local.drill.workload import create_customers_table, load_customers
from dynamodb_dr_local.emulator import Emulator


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "local",
        help="serve the embedded emulator over HTTP with the stack deployed",
        description=(
            "Start the emulator as a local server (moto) with dynamodb-dr's functions and state "
            "machines wired in. Point the AWS CLI or boto3 at the printed endpoint."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4566, help="port to listen on (0 picks a free one)")
    parser.add_argument("--stack", default="dynamodb-dr", help="stack name to deploy")
    parser.add_argument(
        "--sample-items", type=int, default=1000, help="customers in the sample table (0: none)"
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    with Emulator(server=True, host=args.host, port=args.port) as emu:
        dynamodb = emu.clients.client("dynamodb")
        create_customers_table(dynamodb, "customers")
        if args.sample_items:
            load_customers(emu.clients.session_resource("dynamodb").Table("customers"), args.sample_items)
        stack = emu.deploy(parameters={"ProtectedTables": "customers"}, stack_name=args.stack)
        print(f"dynamodb-dr emulator listening on {emu.endpoint_url}")
        print(f"  export AWS_ENDPOINT_URL={emu.endpoint_url} AWS_DEFAULT_REGION={emu.region}")
        print("  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing")
        print(f"stack {stack.name!r} protecting table 'customers' ({args.sample_items} items):")
        for logical_id, physical in sorted(stack.resources.items()):
            print(f"  {logical_id:<32} {physical}")
        print("Ctrl-C to stop.", flush=True)
        (stop or threading.Event()).wait()
    return 0

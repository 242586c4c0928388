"""What the stack costs per protected table and month: the formula behind docs/cost.md.

`python -m dynamodb_dr_local.cost` prints the table in docs/cost.md (a test keeps them equal).
Prices are AWS's us-east-1 list prices (USD) when this was written: check the pricing pages of
your region before relying on them.
"""

from __future__ import annotations

from dataclasses import dataclass

DAYS = 30  # a month
GIB = 1024**3


@dataclass(frozen=True)
class Prices:
    pitr_gb_month: float = 0.20  # DynamoDB continuous backups (PITR), per GB of table
    backup_gb_month: float = 0.10  # on-demand backup storage, per GB per backup kept
    export_gb: float = 0.10  # export to S3, per GB exported (FULL: the table; INCREMENTAL: data processed)
    incremental_min_gb: float = 0.01  # an incremental export is billed at least 10 MB
    restore_gb: float = 0.15  # restore (PITR or backup), per GB restored
    read_million: float = 0.125  # on-demand read request units, per million
    s3_gb_month: float = 0.023  # S3 Standard storage
    s3_put_thousand: float = 0.005  # S3 PUT requests
    lambda_gb_second: float = 0.0000133334  # arm64
    lambda_million: float = 0.20  # Lambda requests
    metric_month: float = 0.30  # a CloudWatch custom metric (first 10,000)


@dataclass(frozen=True)
class Usage:
    """One protected table, with the template's defaults."""

    table_gb: float
    writes_per_second: float
    item_kb: float = 1.0
    backups_kept: int = 35  # BackupRetentionDays 35 x one backup a day (BackupSchedule)
    full_exports_per_month: int = DAYS  # ExportFullSchedule: daily
    incremental_exports_per_month: int = DAYS * 24  # ExportIncrementalSchedule: hourly
    archive_days: int = 90  # how long exports and the CDC archive are kept (ArchiveExpirationDays)
    export_compression: float = 0.3  # gzip DynamoDB JSON / table size
    cdc_bytes_per_change: float = 600.0  # gzip of one change line (new and old image of ~1 KB)
    cdc_batch: int = 1000  # CdcBatchSize: stream records per S3 object, at most
    cdc_window_seconds: int = 5  # CdcBatchingWindowSeconds: at least one object per window
    rehearsals_per_month: int = 1  # RehearsalSchedule: monthly
    metrics: int = 30  # per-table metric series (posture, backups, exports, CDC)
    lambda_gb_seconds: float = 1500.0  # scheduled invocations for one table, per month


def monthly(usage: Usage, prices: Prices | None = None) -> dict[str, float]:
    """USD per month for one table, by component (the formula of docs/cost.md)."""
    p, u = prices or Prices(), usage
    changes = u.writes_per_second * DAYS * 86400
    changed_gb_per_hour = min(u.table_gb, u.writes_per_second * 3600 * u.item_kb * 1024 / GIB)
    incremental_gb = max(changed_gb_per_hour, p.incremental_min_gb)
    stored_gb = (
        u.archive_days * u.table_gb * u.export_compression  # a FULL export a day
        + u.archive_days * 24 * changed_gb_per_hour * u.export_compression  # incremental exports
        + u.writes_per_second * 86400 * u.archive_days * u.cdc_bytes_per_change / GIB  # CDC archive
    )
    objects = 0.0
    if u.writes_per_second:
        objects = max(changes / u.cdc_batch, min(changes, DAYS * 86400 / u.cdc_window_seconds))
    archiver_seconds = objects * 0.5 * 0.5  # ~0.5 s at 512 MB per batch
    return {
        "PITR": u.table_gb * p.pitr_gb_month,
        "on-demand backups": u.table_gb * u.backups_kept * p.backup_gb_month,
        "FULL exports": u.table_gb * u.full_exports_per_month * p.export_gb,
        "INCREMENTAL exports": u.incremental_exports_per_month * incremental_gb * p.export_gb,
        "S3 storage": stored_gb * p.s3_gb_month,
        "S3 requests (CDC)": objects / 1000 * p.s3_put_thousand,
        "rehearsal restore": u.rehearsals_per_month
        * (u.table_gb * p.restore_gb + u.table_gb * GIB / 8192 / 1e6 * p.read_million),
        "Lambda": (u.lambda_gb_seconds + archiver_seconds) * p.lambda_gb_second
        + (objects + 30_000) / 1e6 * p.lambda_million,
        "CloudWatch metrics": u.metrics * p.metric_month,
    }


EXAMPLES = (
    Usage(table_gb=1, writes_per_second=1),
    Usage(table_gb=10, writes_per_second=10),
    Usage(table_gb=100, writes_per_second=100),
    Usage(table_gb=1000, writes_per_second=1000),
)


def table() -> str:
    """The Markdown table of docs/cost.md."""
    components = list(monthly(EXAMPLES[0]))
    header = ["table size, writes/s", *components, "total"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for usage in EXAMPLES:
        costs = monthly(usage)
        cells = [f"{usage.table_gb:,.0f} GB, {usage.writes_per_second:,.0f}/s"]
        cells += [f"{costs[c]:,.2f}" for c in components]
        cells.append(f"**{sum(costs.values()):,.2f}**")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())

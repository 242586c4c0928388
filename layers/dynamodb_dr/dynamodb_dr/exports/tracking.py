"""Following started exports to COMPLETED or FAILED, and moving the chain head on with them."""

from __future__ import annotations

from datetime import UTC, datetime

from dynamodb_dr.exports.chain import ChainConflict, ExportChainStore, ExportRecord
from dynamodb_dr.exports.models import ExportDependencies, TableExportResult


def track(result: TableExportResult, deps: ExportDependencies) -> None:
    logical = result.logical_name
    head = deps.store.head(logical)
    result.in_progress = []
    for sk in sorted(head.inflight):
        record = deps.store.get(logical, sk)
        if record is None or record.export_arn is None:
            deps.store.update_head(logical, drop_inflight=sk)
            continue
        view = deps.exports.describe(record.export_arn, record.physical_table)
        if view.status not in ("COMPLETED", "FAILED"):
            result.in_progress.append(sk)
            continue
        record.status = "COMPLETED" if view.status == "COMPLETED" else "FAILED"
        record.item_count, record.manifest_key = view.item_count, manifest_key(record, view.manifest_key)
        record.failure = view.failure
        record.ended_at = view.ended_at or datetime.now(UTC)
        deps.store.save(record)
        if record.status == "COMPLETED":
            deps.index.put(logical, sk, record.model_dump_json())
        else:
            result.failed_exports.append(sk)
            deps.notifier.export_failed(logical, record.model_dump(exclude={"table_schema"}))
        advance_head(record, deps.store)
        result.tracked[sk] = record.status


def manifest_key(record: ExportRecord, manifest: str | None) -> str | None:
    """The manifest's full S3 key (made absolute should the API give it relative to the prefix)."""
    if not manifest or manifest.startswith(record.s3_prefix):
        return manifest
    return f"{record.s3_prefix.rstrip('/')}/{manifest.lstrip('/')}"


def advance_head(record: ExportRecord, store: ExportChainStore) -> None:
    logical, sk, to = record.logical_name, record.sk, record.window_to.isoformat()
    done = record.status == "COMPLETED"
    if record.export_type == "INCREMENTAL":
        assert record.window_from
        if done:
            try:  # the chain advances only if it still continues from this window's start
                store.update_head(
                    logical,
                    set_={"next_from": to, "last_incr_to": to},
                    drop_inflight=sk,
                    condition="#next_from = :c_from",
                    condition_values={":c_from": record.window_from.isoformat()},
                )
                return
            except ChainConflict:
                pass  # the chain was re-based meanwhile: this window no longer extends it
        store.update_head(logical, drop_inflight=sk)
        return
    if record.base:
        base_set = {"next_from": to, "base_sk": sk} if done else {}
        try:
            store.update_head(
                logical,
                set_={**base_set, **({"last_full_to": to} if done else {})},
                remove=("pending_base",),
                drop_inflight=sk,
                condition="#pending_base = :c_sk",
                condition_values={":c_sk": sk},
            )
            return
        except ChainConflict:
            pass
    store.update_head(logical, set_={"last_full_to": to} if done else None, drop_inflight=sk)

"""S3 replication, which moto stores but never performs: a new object version in a bucket with a
replication configuration is copied to each enabled rule's destination bucket, also in another
emulated account, as S3 does (asynchronously on AWS, at once here).

What S3 checks and this copies: the rule is Enabled and its prefix matches; SSE-KMS objects only
with `SourceSelectionCriteria.SseKmsEncryptedObjects` Enabled; the destination is versioned (S3
refuses the configuration otherwise) and, when the rule names `Destination.Account`, owned by that
account; the replica is encrypted with `ReplicaKmsKeyID` and gets the destination bucket's default
Object Lock retention. Deletes are never replicated (DeleteMarkerReplication Disabled, and S3
never replicates lifecycle expiry or version deletes). Each source version records the outcome in
`replication_outcome` ("COMPLETED" or "FAILED: why"), read by tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Setter = Callable[[Any, str, Any], None]


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _prefix(rule: dict[str, Any]) -> str:
    filter_ = rule.get("Filter") or {}
    if isinstance(filter_, dict):
        if "Prefix" in filter_:
            return str(filter_.get("Prefix") or "")
        if isinstance(filter_.get("And"), dict):
            return str(filter_["And"].get("Prefix") or "")
    return str(rule.get("Prefix") or "")


def _enabled(value: Any) -> bool:
    return isinstance(value, dict) and value.get("Status") == "Enabled"


def replicate(source_bucket: Any, key: Any) -> list[str]:
    """Copy one new version to its rules' destinations; returns the outcome per destination."""
    from moto.s3.models import s3_backends

    config = getattr(source_bucket, "replication", None) or {}
    outcomes: list[str] = []
    for rule in _list(config.get("Rule")):
        if rule.get("Status") != "Enabled" or not key.name.startswith(_prefix(rule)):
            continue
        if key.encryption == "aws:kms" and not _enabled(
            (rule.get("SourceSelectionCriteria") or {}).get("SseKmsEncryptedObjects")
        ):
            continue  # S3 skips SSE-KMS objects unless the rule opts in
        destination = rule.get("Destination") or {}
        name = str(destination.get("Bucket", "")).rsplit(":", 1)[-1]
        where = s3_backends.bucket_accounts.get(name)
        if where is None:
            outcomes.append(f"FAILED: destination bucket {name} does not exist")
            continue
        partition, account = where
        if destination.get("Account") and str(destination["Account"]) != account:
            outcomes.append(f"FAILED: {name} is owned by {account}, not {destination['Account']}")
            continue
        backend = s3_backends[account][partition]
        target = backend.get_bucket(name)
        if not target.is_versioned:
            outcomes.append(f"FAILED: destination bucket {name} is not versioned")
            continue
        kms_key = (destination.get("EncryptionConfiguration") or {}).get("ReplicaKmsKeyID")
        lock_mode = lock_until = None
        if target.has_default_lock:
            lock_mode, lock_until = target.default_lock_mode, target.default_retention()
        replica = backend.put_object(
            name,
            key.name,
            key.value,
            encryption="aws:kms" if kms_key else None,
            kms_key_id=kms_key,
            lock_mode=lock_mode,
            lock_until=lock_until,
            disable_notification=True,
        )
        replica.set_metadata(dict(key.metadata))
        outcomes.append("COMPLETED")
    return outcomes


def install(set_: Setter) -> None:
    from moto.s3.models import S3Backend

    original = S3Backend.put_object

    def put_object(
        self: Any, bucket_name: str, key_name: str, value: bytes, *args: Any, **kwargs: Any
    ) -> Any:
        new_key = original(self, bucket_name, key_name, value, *args, **kwargs)
        bucket = self.get_bucket(bucket_name)
        if getattr(bucket, "replication", None):
            outcomes = replicate(bucket, new_key)
            setattr(new_key, "replication_outcome", ",".join(outcomes) or None)  # noqa: B010 (moto's class)
        return new_key

    set_(S3Backend, "put_object", put_object)

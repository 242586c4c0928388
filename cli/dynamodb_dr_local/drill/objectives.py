"""The drill's recovery report: RPO as the data actually lost, RTO as measured and assumed parts.

RPO achieved: the good writes made after the restore point that are not in the restored table
(only the CDC archive holds them), and the time span they cover after the restore point.

RTO: from the incident to the cutover, each part marked measured (on the emulator) or assumed
(what the emulator cannot reproduce): detection and response until the restore starts, DynamoDB's
own restore time, and validation at the table's real size, estimated as
    items / (segments x SCAN_ITEMS_PER_SECOND_PER_SEGMENT)
with segments capped by the Map's concurrency. The validation measured here (sample size, moto's
Scan) is shown next to it but the total uses the estimate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dynamodb_dr_local.output import duration, table

# A Scan segment reads about one 1 MB page per ~200 ms round trip: ~5,000 items of ~1 KB per
# second, on an on-demand table that is not throttled (see docs/performance.md).
SCAN_ITEMS_PER_SECOND_PER_SEGMENT = 5_000
MAP_MAX_CONCURRENCY = 40  # statemachines/restore.asl.json, ScanSegments
VALIDATION_STATES = frozenset({"PlanValidation", "ScanSegments", "CompareValidation"})


@dataclass
class RtoPart:
    name: str
    seconds: float
    kind: str  # "measured" | "assumed" | "estimate" | "measured, not counted"
    note: str = ""

    @property
    def counted(self) -> bool:
        return self.kind != "measured, not counted"


@dataclass
class Objectives:
    restore_point: str
    incident_at: str
    lost_writes: int
    lost_span_seconds: float
    lost_writes_in_archive: int
    rpo_objective_seconds: float
    rto_objective_seconds: float
    rto_parts: list[RtoPart] = field(default_factory=list)

    @property
    def rpo_achieved_seconds(self) -> float:
        return self.lost_span_seconds if self.lost_writes else 0.0

    @property
    def rpo_met(self) -> bool:
        return self.rpo_achieved_seconds <= self.rpo_objective_seconds

    @property
    def rto_seconds(self) -> float:
        return sum(p.seconds for p in self.rto_parts if p.counted)

    @property
    def rto_met(self) -> bool:
        return self.rto_seconds <= self.rto_objective_seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "rpo_achieved_seconds": round(self.rpo_achieved_seconds, 3),
            "rpo_met": self.rpo_met,
            "rto_projected_seconds": round(self.rto_seconds, 1),
            "rto_met": self.rto_met,
        }


def validation_estimate(items: int, segments: int) -> tuple[float, str]:
    parallel = max(1, min(segments, MAP_MAX_CONCURRENCY))
    seconds = items / (parallel * SCAN_ITEMS_PER_SECOND_PER_SEGMENT)
    note = f"{items:,} items / ({parallel} segments x {SCAN_ITEMS_PER_SECOND_PER_SEGMENT:,} items/s)"
    return seconds, note


def rto_parts(
    *,
    detect_minutes: float,
    phases: dict[str, float],
    aws_restore_minutes: float,
    real_items: int,
    segments: int,
    sample_items: int,
) -> list[RtoPart]:
    validation_here = sum(seconds for state, seconds in phases.items() if state in VALIDATION_STATES)
    orchestration = sum(phases.values()) - validation_here
    estimate, note = validation_estimate(real_items, segments)
    return [
        RtoPart(
            "detection and response, until the restore starts",
            detect_minutes * 60,
            "assumed",
            "--detect-minutes; PITR's latest restorable time trails by ~5 min, so never less",
        ),
        RtoPart("restore state machine: orchestration", orchestration, "measured", "on the emulator"),
        RtoPart(
            "DynamoDB's own restore of the table",
            aws_restore_minutes * 60,
            "assumed",
            "--aws-restore-minutes; not emulated: measure yours with a rehearsal",
        ),
        RtoPart(f"validation at {real_items:,} items", estimate, "estimate", f"--real-items; {note}"),
        RtoPart(
            f"validation of the {sample_items:,} sample items",
            validation_here,
            "measured, not counted",
            "moto's Scan; replaced by the estimate above",
        ),
    ]


def render(objectives: Objectives, items_verified: int, items_expected: int, live_table: str) -> str:
    o = objectives
    lost = (
        f"{o.lost_writes} good writes after the restore point, spanning {duration(o.rpo_achieved_seconds)}: "
        f"not in the restored table; {o.lost_writes_in_archive} of them in the CDC archive (replayable)"
        if o.lost_writes
        else "no good write after the restore point: nothing lost"
    )
    rows = [
        (
            p.name,
            duration(p.seconds) if p.kind.startswith("measured") else "",
            "" if p.kind.startswith("measured") else duration(p.seconds),
            p.note if p.counted else f"({p.note})",
        )
        for p in o.rto_parts
    ]
    rows.append(
        (
            "total, incident to cutover",
            "",
            duration(o.rto_seconds),
            f"objective {duration(o.rto_objective_seconds)}",
        )
    )
    return "\n".join(
        [
            "Recovery report",
            f"  incident (T)        {o.incident_at}",
            f"  restore point       {o.restore_point}",
            f"  data lost (RPO)     {lost}",
            f"                      RPO achieved {duration(o.rpo_achieved_seconds)} vs objective "
            f"{duration(o.rpo_objective_seconds)}: {'met' if o.rpo_met else 'NOT MET'}",
            f"  items verified      {items_verified:,}/{items_expected:,} equal to the pre-incident state; "
            f"live table {live_table}",
            "  time to recover (RTO), measured and assumed parts:",
            "\n".join(
                "    " + line for line in table(("PART", "MEASURED", "ASSUMED", "HOW"), rows).splitlines()
            ),
            f"  RTO {duration(o.rto_seconds)} vs objective {duration(o.rto_objective_seconds)}: "
            f"{'met' if o.rto_met else 'NOT MET'}",
        ]
    )

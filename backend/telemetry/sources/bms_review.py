"""The BMS point mapping as an engineer reviews it: one row per point the BMS describes.

The broker's retained metadata says which points exist; :func:`review_rows` puts each beside
what it feeds, or would feed, and why: points the design maps already keep their mapping, the
others get ``auto_map``'s proposal or its reason for leaving them out. The engineer ticks the
rows to keep, and :func:`accepted_points` turns the ticks into the design's point list, which
the MQTT source reads as it is (``telemetry.mqtt.points``). Points the design maps but the BMS
did not describe this time are kept untouched: a point missing from one read of the metadata
is no reason to stop reading it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.mqtt_settings import PointMapping
from factoryfloor.backend.telemetry.sources.bms_mapping import PointMetadata, auto_map


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """One BMS point: what it feeds or would feed (None: nothing), and why."""

    point: PointMetadata
    mapping: PointMapping | None
    reason: str
    in_design: bool
    """The design maps this point already."""
    proposed: bool
    """Ticked when the review opens: mapped already, or proposed with no rival in the design."""


def review_rows(
    design: Design, points: Sequence[PointMapping], metadata: Sequence[PointMetadata]
) -> list[ReviewRow]:
    """A row for each point in ``metadata``, in point-id order, for a design whose MQTT source
    maps ``points`` (the design's, or those of a source being edited). Request points are
    proposed only where their metadata names the design's integration id."""
    mapped = {point.point_id: point for point in points}
    fed_by = {point.feeds: point.point_id for point in mapped.values()}
    new = [point for point in metadata if point.point_id not in mapped]
    mqtt = design.telemetry.mqtt
    integration = mqtt.integration if mqtt is not None else None
    proposal = auto_map([r.id for r in design.racks], [c.id for c in design.cdus], new, integration)
    proposed = {mapping.point_id: mapping for mapping in proposal.proposed}
    why_not = {unmatched.point.point_id: unmatched.reason for unmatched in proposal.unmatched}
    rows = []
    for point in sorted(metadata, key=lambda p: p.point_id):
        point_id = point.point_id
        if point_id in mapped:
            reason = f"in the design: feeds {mapped[point_id].feeds}"
            rows.append(ReviewRow(point, mapped[point_id], reason, True, True))
        elif point_id in proposed:
            mapping = proposed[point_id]
            rival = fed_by.get(mapping.feeds)
            if rival is not None:
                reason = f"{mapping.feeds} is already fed by {rival} in the design"
                rows.append(ReviewRow(point, mapping, reason, False, False))
            else:
                rows.append(ReviewRow(point, mapping, proposal.reasons[point_id], False, True))
        else:
            rows.append(ReviewRow(point, None, why_not[point_id], False, False))
    return rows


def accepted_points(
    points: Sequence[PointMapping], rows: Sequence[ReviewRow], accepted: Collection[str]
) -> list[PointMapping]:
    """The point list once the review is accepted: the mappings of the rows whose point id is
    in ``accepted``, and those of ``points`` (the list reviewed) the review did not show."""
    shown = {row.point.point_id for row in rows}
    kept = [point for point in points if point.point_id not in shown]
    return kept + [
        row.mapping for row in rows if row.mapping is not None and row.point.point_id in accepted
    ]

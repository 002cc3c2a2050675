"""Reading and writing design files safely.

Loading checks everything and reports every problem as ``path.to.field: reason`` in one
:class:`DesignFileError`; that error (an ``OSError`` for unreadable files aside) is the only one
that escapes, whatever bytes the file holds. Saving is atomic: the new text goes to a temporary
file in the same folder, is fsynced, and replaces the old file by rename, so a crash mid-save
leaves either the old file or the new one, never half of either. The temporary file is named
``.<name>.<random>.<pid>.factoryfloor-save.tmp``, so one a killed process leaves behind can be
told from a save in progress and removed later (``leftovers``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from factoryfloor.backend.design.model import SCHEMA_VERSION, Design

SAVE_TEMP_SUFFIX = ".factoryfloor-save.tmp"
"""Ends the name of an atomic save's temporary file, after the saving process's id."""

MAX_FILE_BYTES = 64 * 1024 * 1024
"""Far beyond a 10,000-rack hall (about 3 MB); refuses to parse anything larger."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class DesignFileError(ValueError):
    """A file that is not a valid design (or GPU catalog, or service users file); ``problems``
    lists every reason, each with its path."""

    def __init__(self, source: str, problems: Sequence[FieldProblem], what: str = "design"):
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{source}: not a valid {what} ({count} problem(s)):\n{lines}")


def format_path(loc: Iterable[str | int]) -> str:
    """``('racks', 3, 'it_power_kw')`` -> ``racks[3].it_power_kw``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(file)"


_NAME_REASON = "must start with a letter or digit and hold only letters, digits, _ . -"
"""Ids and host names: the pattern most fields have."""
_PATTERN_REASONS = {
    r"^https?://": "must be an http:// or https:// address",
    r"^[^/+#\x00]+(/[^/+#\x00]+)*$": "must be MQTT topic levels joined by /, none empty,"
    " without + or #",
    r"^[^/+#\x00]+$": "must be one MQTT topic level, without /, + or #",
}
"""What the other patterns of the model ask for, in words (URLs, MQTT topics)."""


def _reason(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field (misspelt, or from a newer version?)"
    if kind == "string_pattern_mismatch":
        message = _PATTERN_REASONS.get(error.get("ctx", {}).get("pattern", ""), _NAME_REASON)
    elif kind == "string_too_short" and error.get("ctx", {}).get("min_length") == 1:
        message = "must not be empty"
    else:
        message = str(error["msg"]).replace("Input should be", "must be")
    value = error.get("input")
    if isinstance(value, (int, float, str, bool)) or value is None:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        message += f" (got {shown})"
    return message


def problems_from_validation(error: ValidationError) -> list[FieldProblem]:
    return [FieldProblem(format_path(e["loc"]), _reason(e)) for e in error.errors()]


def validate_model(model: type[BaseModel], raw: str | bytes, source: str, what: str) -> Any:
    """``model`` validated from JSON text ``raw``, or DesignFileError naming ``source``."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise DesignFileError(source, problems_from_validation(error), what) from None


def reference_problems(design: Design) -> list[FieldProblem]:
    """Problems that span entities: duplicate ids, dangling references, items off the floor."""
    problems: list[FieldProblem] = []
    sections: list[tuple[str, Sequence[Any]]] = [
        ("gpu_models", design.gpu_models),
        ("racks", design.racks),
        ("cdus", design.cdus),
        ("loops", design.loops),
        ("feeds", design.feeds),
    ]
    seen = Counter(item.id for _, items in sections for item in items)
    for section, items in sections:
        for i, item in enumerate(items):
            if seen[item.id] > 1:
                problems.append(
                    FieldProblem(f"{section}[{i}].id", f"id {item.id!r} is used more than once")
                )

    model_ids = {model.id for model in design.gpu_models}
    loop_ids = {loop.id for loop in design.loops}
    feed_ids = {feed.id for feed in design.feeds}
    cdu_ids = {cdu.id for cdu in design.cdus}
    for i, rack in enumerate(design.racks):
        if rack.gpu_model not in model_ids:
            problems.append(
                FieldProblem(
                    f"racks[{i}].gpu_model", f"no GPU model {rack.gpu_model!r} in gpu_models"
                )
            )
        if rack.loop_id is not None and rack.loop_id not in loop_ids:
            problems.append(FieldProblem(f"racks[{i}].loop_id", f"no loop {rack.loop_id!r}"))
        if rack.feed_id is not None and rack.feed_id not in feed_ids:
            problems.append(FieldProblem(f"racks[{i}].feed_id", f"no power feed {rack.feed_id!r}"))

    served_by: dict[str, str] = {}
    for i, loop in enumerate(design.loops):
        if loop.cdu_id not in cdu_ids:
            problems.append(FieldProblem(f"loops[{i}].cdu_id", f"no CDU {loop.cdu_id!r}"))
        elif loop.cdu_id in served_by:
            problems.append(
                FieldProblem(
                    f"loops[{i}].cdu_id",
                    f"CDU {loop.cdu_id!r} already serves loop {served_by[loop.cdu_id]!r}; "
                    "a CDU serves one TCS loop",
                )
            )
        else:
            served_by[loop.cdu_id] = loop.id

    floor = design.floor
    for section, items in (("racks", design.racks), ("cdus", design.cdus), ("feeds", design.feeds)):
        for i, item in enumerate(items):
            if item.x_m > floor.width_m or item.y_m > floor.depth_m:
                problems.append(
                    FieldProblem(
                        f"{section}[{i}]",
                        f"position ({item.x_m:g}, {item.y_m:g}) m is outside the "
                        f"{floor.width_m:g} x {floor.depth_m:g} m floor",
                    )
                )
    problems += _telemetry_reference_problems(design)
    rule_ids = Counter(rule.id for rule in design.alarm_rules)
    problems += [
        FieldProblem(f"alarm_rules[{i}].id", f"rule id {rule.id!r} is used more than once")
        for i, rule in enumerate(design.alarm_rules)
        if rule_ids[rule.id] > 1
    ]
    for i, loop in enumerate(design.loops):
        for j, (x_m, y_m) in enumerate(loop.route):
            if x_m > floor.width_m or y_m > floor.depth_m:
                problems.append(
                    FieldProblem(
                        f"loops[{i}].route[{j}]",
                        f"point ({x_m:g}, {y_m:g}) m is outside the "
                        f"{floor.width_m:g} x {floor.depth_m:g} m floor",
                    )
                )
    return problems


def read_json_document(raw: bytes, source: str, what: str) -> str:
    """The text of a FactoryFloor JSON file (design or catalog) after the checks every such file
    needs before its fields are validated: size, UTF-8 (a BOM is accepted), JSON syntax, a
    top-level object, and a ``schema_version`` this version can read."""

    def fail(path: str, reason: str) -> DesignFileError:
        return DesignFileError(source, [FieldProblem(path, reason)], what)

    if len(raw) > MAX_FILE_BYTES:
        limit = f"{len(raw):,} bytes is larger than the {MAX_FILE_BYTES:,}-byte limit"
        raise fail("(file)", f"{limit} for a {what} file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise fail("(file)", f"not UTF-8 text (bad byte at offset {error.start})") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        reason = f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        raise fail("(file)", reason) from None
    except (ValueError, RecursionError) as error:
        raise fail("(file)", f"not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise fail("(file)", "must be a JSON object")
    reason = _schema_version_problem(data.get("schema_version"), "schema_version" in data, what)
    if reason:
        raise fail("schema_version", reason)
    return text


def _telemetry_reference_problems(design: Design) -> list[FieldProblem]:
    """Sensor points and inference servers must name racks and CDUs the plan has."""
    problems: list[FieldProblem] = []
    known = {"rack": {r.id for r in design.racks}, "cdu": {c.id for c in design.cdus}}
    telemetry = design.telemetry
    if telemetry.mqtt is not None:
        for i, point in enumerate(telemetry.mqtt.points):
            if point.entity_id not in known[point.kind]:
                problems.append(FieldProblem(f"telemetry.mqtt.points[{i}].entity_id",
                                             f"no {point.kind} {point.entity_id!r}"))  # fmt: skip
    for i, endpoint in enumerate(telemetry.metrics):
        if endpoint.rack_id is not None and endpoint.rack_id not in known["rack"]:
            problems.append(FieldProblem(f"telemetry.metrics[{i}].rack_id",
                                         f"no rack {endpoint.rack_id!r}"))  # fmt: skip
    return problems + _node_problems(design)


def _node_problems(design: Design) -> list[FieldProblem]:
    """A GPU host stands in one rack, and a rack's GPUs split evenly over its hosts, so every
    host's GPU lands on exactly one place on the plan."""
    problems: list[FieldProblem] = []
    rack_of_node: dict[str, str] = {}  # host names are case-insensitive
    for i, rack in enumerate(design.racks):
        if rack.nodes and rack.gpu_count % len(rack.nodes):
            problems.append(FieldProblem(
                f"racks[{i}].nodes",
                f"{rack.gpu_count} GPUs do not split evenly over {len(rack.nodes)} nodes",
            ))  # fmt: skip
        for j, node in enumerate(rack.nodes):
            if node.lower() in rack_of_node:
                problems.append(FieldProblem(
                    f"racks[{i}].nodes[{j}]",
                    f"node {node!r} is already in rack {rack_of_node[node.lower()]}",
                ))  # fmt: skip
            else:
                rack_of_node[node.lower()] = rack.id
    return problems


def parse_design(raw: bytes, source: str) -> Design:
    """A validated design from the bytes of a design file; ``source`` names it in errors."""
    text = read_json_document(raw, source, "design")
    design: Design = validate_model(Design, text, source, "design")
    problems = reference_problems(design)
    if problems:
        raise DesignFileError(source, problems)
    return design


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _schema_version_problem(version: Any, present: bool, what: str) -> str | None:
    if not present:
        return f"required field is missing (is this a FactoryFloor {what} file?)"
    if type(version) is not int:
        return f"must be a whole number (got {version!r})"
    if version > SCHEMA_VERSION:
        return (
            f"the file uses schema {version}, written by a newer FactoryFloor; this version reads "
            f"schema {SCHEMA_VERSION} at most. Upgrade FactoryFloor to open it"
        )
    if version < 1:
        return f"must be 1 or more (got {version})"
    return None


def describe_file_error(
    path: str | os.PathLike[str], error: BaseException, action: str = "read"
) -> str:
    """What to tell the user about a file that could not be read (or written: ``action``)."""
    if isinstance(error, DesignFileError):
        return str(error)
    if isinstance(error, OSError):
        return f"{path}: cannot {action}: {error.strerror or error}"
    return f"{path}: unexpected error: {error!r}"


def load_design(path: str | os.PathLike[str]) -> Design:
    """Read and validate a design file; raises DesignFileError (or OSError if unreadable)."""
    path = Path(path)
    with path.open("rb") as file:
        raw = file.read(MAX_FILE_BYTES + 1)
    return parse_design(raw, str(path))


def design_to_json(design: Design) -> str:
    return json.dumps(design.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def save_design(design: Design, path: str | os.PathLike[str]) -> None:
    """Write ``design`` to ``path`` atomically: all of the new file, or the old one untouched."""
    atomic_write_text(Path(path), design_to_json(design))


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` (UTF-8) all at once, as ``atomic_write_bytes``."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` all at once. Permissions: ``mode`` if given, else the
    old file's, else what the umask allows a new file. The temporary file is created 0600 and
    only takes them at the end, so the data is never readable by others meanwhile."""
    folder = path.parent
    suffix = f".{os.getpid()}{SAVE_TEMP_SUFFIX}"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if mode is not None:
            os.chmod(tmp_name, mode)
        elif path.exists():
            os.chmod(tmp_name, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_folder(folder)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); folders cannot be opened this way on Windows."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

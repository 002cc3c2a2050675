"""Reversible edits of a design: what the floor-plan editor's commands do, without Qt.

An :class:`Edit` is a labelled list of :class:`Change` s, each replacing, inserting or deleting
one entity (rack, CDU, loop or feed) of a :class:`~factoryfloor.backend.design.model.Design`,
and of :class:`SettingChange` s, each replacing one design-wide setting (name, floor,
assumptions, telemetry). ``apply`` and ``revert`` change the design in place, so the Qt undo
stack can wrap them (``redo`` applies, ``undo`` reverts) and the view can redraw only
``touched_ids``.

Builders (``move``, ``delete``, ``set_field``, ...) read a design and return an Edit; they never
change it, and they refuse an impossible request with :class:`EditError`, whose problems have
the ``path: reason`` shape of a design file's, with items named by id
(``racks[A01].it_power_kw``) because positions in a list mean nothing to a user.

After any builder's edit the design still passes
:func:`~factoryfloor.backend.design.design_file.reference_problems`: positions are clamped to
the floor, deletions cascade, renames carry their references along, and values a user types are
checked against the model and the cross-entity rules before an Edit exists.

Builders look items up through a dict built once per call, so an edit of k items in a design of
n items costs O(n + k), never O(n k): dragging a rack in a 1,000-rack hall stays well under 1 ms.

The builders are grouped by what they change, one module each: ``layout`` (positions: move,
align, distribute, rotate), ``fields`` (set_field, plumb, assign_feed), ``items`` (add, new
items, duplicate, delete), ``routes`` (cooling loops and their pipes) and ``settings`` (the
hall's own settings, its telemetry sources and its alarm rules), all on ``core`` (the Edit,
the index, the checks). Callers take every name from this package, not from those modules.
"""

from factoryfloor.backend.design.edits.core import (
    MODELS,
    PLACED,
    SECTIONS,
    Change,
    Edit,
    EditError,
    Entity,
    Section,
    Setting,
    SettingChange,
)
from factoryfloor.backend.design.edits.fields import assign_feed, plumb, set_field
from factoryfloor.backend.design.edits.items import (
    ID_MAX_CHARS,
    NEW_RACK_LIQUID_FRACTION,
    NVL72_GPUS,
    SERVER_GPUS,
    add,
    delete,
    duplicate,
    new_cdu,
    new_feed,
    new_rack,
)
from factoryfloor.backend.design.edits.layout import (
    AlignEdge,
    Axis,
    Point,
    align,
    distribute,
    move,
    rotate,
    snap_m,
)
from factoryfloor.backend.design.edits.routes import (
    ROUTE_CLEARANCE_M,
    insert_route_point,
    move_route_point,
    new_loop,
    remove_route_point,
)
from factoryfloor.backend.design.edits.settings import (
    HallSettings,
    set_alarm_rules,
    set_bms_points,
    set_hall,
    set_telemetry,
)

__all__ = [
    "ID_MAX_CHARS",
    "MODELS",
    "NEW_RACK_LIQUID_FRACTION",
    "NVL72_GPUS",
    "PLACED",
    "ROUTE_CLEARANCE_M",
    "SECTIONS",
    "SERVER_GPUS",
    "AlignEdge",
    "Axis",
    "Change",
    "Edit",
    "EditError",
    "Entity",
    "HallSettings",
    "Point",
    "Section",
    "Setting",
    "SettingChange",
    "add",
    "align",
    "assign_feed",
    "delete",
    "distribute",
    "duplicate",
    "insert_route_point",
    "move",
    "move_route_point",
    "new_cdu",
    "new_feed",
    "new_loop",
    "new_rack",
    "plumb",
    "remove_route_point",
    "rotate",
    "set_alarm_rules",
    "set_bms_points",
    "set_field",
    "set_hall",
    "set_telemetry",
    "snap_m",
]

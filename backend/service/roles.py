"""What a signed-in user may do: three roles, each allowed everything the one below it is.

A viewer watches (wall displays, anyone who has not signed in); an operator also acts on the
running facility (acknowledging alarms, control); an engineer also changes the design and manages
users. Reading the alarm journal and its performance report needs no role: they are the record
of what the alarm list already showed every window, viewers included, and a shift handover or an
alarm review on a wall or a manager's desk must not need an account that could also acknowledge.
Reading the audit log (and checking its chain) needs an operator: it names every account, tells
an unknown user from a wrong password and says from which address each sign-in came, which a
window nobody signed in to must not learn; and the people who act on the facility (operators,
engineers) must be able to see who did what on their shift, refused attempts included.
Each action names the least role that may take it, and :func:`permits` is the one place
that compares the two, so a new action cannot get the order the wrong way round.
"""

from __future__ import annotations

import enum
import functools


@functools.total_ordering
class Role(enum.Enum):
    """A user's role, ordered ``VIEWER < OPERATOR < ENGINEER``; stored by its lower-case name."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ENGINEER = "engineer"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return self.rank < other.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ENGINEER: 2}

ROLE_NAMES = tuple(role.value for role in Role)
"""``('viewer', 'operator', 'engineer')``, least to most allowed."""


READ_AUDIT = Role.OPERATOR
"""The least role that may read the audit log, in a window or exported (see above)."""


def permits(role: Role, minimum: Role) -> bool:
    """Whether a user of ``role`` may take an action that needs at least ``minimum``."""
    return role >= minimum

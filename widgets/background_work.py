"""How a view asks for blocking work (a connection check, a broker read) to run off the GUI
thread, without knowing who runs it.

The window hands its views a :data:`Submit`, the signature of its background tasks' ``submit``:
the work runs on a worker thread and exactly one of the two callbacks runs afterwards on the
GUI thread, from the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Submit = Callable[
    [Callable[[], Any], Callable[[Any], None], Callable[[BaseException], None]], object
]
"""``submit(work, on_done, on_error)``."""

"""Test session set-up: Qt renders offscreen, so the suite runs on machines with no display, and
settings and recovery files go to throwaway folders instead of the user's."""

import gc
import os
import tempfile
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="factoryfloor-test-config-")
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="factoryfloor-test-data-")

pytest_plugins = ["alarm_service"]
"""Its fixtures (a service with an operator, a viewer and an engineer) for any test; loaded as a
plugin before any test module imports its helpers, so their asserts are rewritten."""


@pytest.fixture(autouse=True)
def _collect_qt_garbage_on_the_main_thread() -> Iterator[None]:
    """After each test, what it left unreachable (windows, menus, their Python wrappers) is
    collected here, on the main thread, with deferred deletions run. Left to chance, a
    collection may run in a worker thread (a service link, a background load) in a later test,
    and Qt objects deleted from there crashed or deadlocked the suite in ``~QObject``."""
    yield
    app = QApplication.instance()
    if app is not None:
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    if app is not None:
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)

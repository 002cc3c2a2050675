"""Test session set-up: Qt renders offscreen, so the suite runs on machines with no display, and
settings and recovery files go to throwaway folders instead of the user's."""

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="factoryfloor-test-config-")
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="factoryfloor-test-data-")

pytest_plugins = ["alarm_service"]
"""Its fixtures (a service with an operator, a viewer and an engineer) for any test; loaded as a
plugin before any test module imports its helpers, so their asserts are rewritten."""

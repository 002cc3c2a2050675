"""Test session set-up: Qt renders offscreen, so the suite runs on machines with no display, and
settings go to a throwaway folder instead of the user's."""

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="factoryfloor-test-config-")

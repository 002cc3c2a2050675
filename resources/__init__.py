"""Files shipped with FactoryFloor: the demo hall, the GPU catalog, the recorded H100 NVML trace.

Found through ``importlib.resources``, so they are read the same way from a checkout, an
installed wheel or a frozen build. They are read, never written: a design opened from here has
no file of its own until it is saved under a name the user chooses (:func:`is_bundled`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEMO_HALL = "demo_hall.json"
GPU_CATALOG = "gpu_catalog.json"
H100_NVML_TRACE = "h100_nvml_trace.json"


def bundled_folder() -> Path:
    """The folder the files above are installed in (inside the installed package)."""
    return Path(str(resources.files(__name__)))


def bundled_path(name: str) -> Path:
    """The path of one of the files above."""
    return bundled_folder() / name


def is_bundled(path: Path) -> bool:
    """Whether ``path`` lies in :func:`bundled_folder` (links and ``..`` followed), where
    nothing may be saved."""
    return path.resolve().is_relative_to(bundled_folder().resolve())


def demo_path() -> Path:
    """The demo hall: two rows of GB200 NVL72 racks on in-row CDUs and a row of HGX H100."""
    return bundled_path(DEMO_HALL)

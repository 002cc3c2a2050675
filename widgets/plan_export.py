"""Export the floor plan as a PNG image or an SVG drawing, to scale, without the screen."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtSvg import QSvgGenerator

from factoryfloor.widgets.floor_plan import FloorPlanScene


def _render(scene: FloorPlanScene, painter: QPainter, target: QRectF) -> None:
    selected = scene.selectedItems()
    scene.clearSelection()  # exports show the plan, not the editing state
    try:
        scene.render(painter, target, scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
    finally:
        for item in selected:
            item.setSelected(True)


def export_png(scene: FloorPlanScene, path: Path, px_per_m: float = 80.0) -> QSize:
    """Write the whole plan at ``px_per_m`` pixels per metre; returns the image size."""
    rect = scene.sceneRect()
    size = QSize(max(1, round(rect.width() * px_per_m)), max(1, round(rect.height() * px_per_m)))
    image = QImage(size, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
    _render(scene, painter, QRectF(0, 0, size.width(), size.height()))
    painter.end()
    if not image.save(str(path), "PNG"):
        raise OSError(f"{path}: could not write the PNG image")
    return size


def export_svg(scene: FloorPlanScene, path: Path, title: str, px_per_m: float = 80.0) -> None:
    rect = scene.sceneRect()
    size = QSize(max(1, round(rect.width() * px_per_m)), max(1, round(rect.height() * px_per_m)))
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(size)
    generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
    generator.setTitle(title)
    generator.setDescription("Floor plan exported from FactoryFloor; 1 m = "
                             f"{px_per_m:g} px")  # fmt: skip
    painter = QPainter()
    if not painter.begin(generator):
        raise OSError(f"{path}: could not write the SVG drawing")
    _render(scene, painter, QRectF(0, 0, size.width(), size.height()))
    painter.end()

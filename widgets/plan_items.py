"""Graphics items that mirror the design model on the floor plan, in metres.

Items are drawn with cosmetic (pixel-width) pens so outlines stay crisp at every zoom, and
labels are painted at a fixed pixel size only where the item is large enough on screen to hold
them, so a 1,000-rack hall zoomed out is not a smear of overlapping text.
"""

from __future__ import annotations

import enum
import itertools
import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsSceneHoverEvent,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from factoryfloor.widgets.status_colours import NEAR, OFF_DESIGN, OVER

LABEL_FONT = QFont()
LABEL_FONT.setPixelSize(11)
LABEL_METRICS = QFontMetricsF(LABEL_FONT)
PIPE_PICK_WIDTH_M = 0.2
SELECTED_PEN = QPen(QColor("#1565c0"), 3)
SELECTED_PEN.setCosmetic(True)


ALARM_RING_PX = 4.0


def cosmetic_pen(colour: QColor | str, width_px: float = 1.0, style=Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(QColor(colour), width_px, style)
    pen.setCosmetic(True)
    return pen


class EquipmentKind(enum.Enum):
    """What an equipment item stands for; the value is the word the editor's hints use."""

    RACK = "rack"
    CDU = "cdu"
    FEED = "feed"


class FiguresTooltip:
    """Mixin: the tooltip is built from the scene's current figures when the item is hovered,
    so an edit elsewhere (a rack's power changing its loop's heat) never leaves it stale."""

    entity_id: str

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        scene = self.scene()  # type: ignore[attr-defined]
        if hasattr(scene, "tooltip_for"):
            self.setToolTip(scene.tooltip_for(self.entity_id))  # type: ignore[attr-defined]
        super().hoverEnterEvent(event)  # type: ignore[misc]


class EquipmentItem(FiguresTooltip, QGraphicsRectItem):
    """A rack, CDU or feed: a footprint rectangle centred on its position, rotated in place.

    ``status`` (``None``, ``"near"`` or ``"over"``) outlines it in amber or red and adds a
    marker, so a problem shows on the plan even where colour is hard to tell apart.
    """

    def __init__(
        self,
        kind: EquipmentKind,
        entity_id: str,
        x_m: float,
        y_m: float,
        width_m: float,
        depth_m: float,
        rotation_deg: float,
        fill: QColor,
        lines: list[str],
    ):
        super().__init__(QRectF(-width_m / 2, -depth_m / 2, width_m, depth_m))
        self.kind = kind
        self.entity_id = entity_id
        self.lines = lines
        self.status: str | None = None
        self.alarm: QColor | None = None
        """Run view: the priority colour of the highest alarm at this item, drawn as a band just
        inside the outline, so a selected item still shows it."""
        self.vertical_labels = False
        """Narrow cabinets (CDUs, feeds) may label along their depth when across does not fit."""
        self.setPos(x_m, y_m)
        self.setRotation(rotation_deg)
        self.design_fill = fill
        self.setBrush(QBrush(fill))
        self.setPen(cosmetic_pen(fill.darker(170)))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setAcceptHoverEvents(True)
        # Drawn once per change into a pixmap at screen resolution: a hall is hundreds of racks
        # with text, repainted at the wall's frame rate but recoloured at most a few times a
        # second (a 512-rack plan repaints in about half the time).
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def boundingRect(self) -> QRectF:
        """The footprint plus a sliver for the outline: cosmetic pens are pixels, and the base
        class would count their width as metres."""
        return self.rect().adjusted(-0.05, -0.05, 0.05, 0.05)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self.rect())
        return path

    def set_status(self, status: str | None) -> None:
        self.status = status
        self.update()

    def set_alarm(self, colour: QColor | None) -> None:
        if colour != self.alarm:
            self.alarm = colour
            self.update()

    def set_fill(self, colour: QColor | None) -> None:
        """A live colour over the design fill; None goes back to the design fill."""
        colour = colour if colour is not None else self.design_fill
        if colour != self.brush().color():  # an unchanged colour keeps the cached drawing
            self.setBrush(QBrush(colour))

    def set_lines(self, lines: list[str]) -> None:
        if lines != self.lines:
            self.lines = lines
            self.update()

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        rect = self.rect()
        painter.setBrush(self.brush())
        outline = {"over": OVER, "near": NEAR}.get(self.status or "")
        if self.isSelected():
            painter.setPen(SELECTED_PEN)
        elif outline is not None:
            painter.setPen(cosmetic_pen(outline, 2.5))
        else:
            painter.setPen(self.pen())
        painter.drawRect(rect)
        if self.alarm is not None:  # a band just inside the outline: selection never hides it
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(cosmetic_pen(self.alarm, ALARM_RING_PX))
            pixel = painter.worldTransform().inverted()[0].mapRect(QRectF(0, 0, 1, 1)).width()
            inset = min(pixel * (ALARM_RING_PX / 2 + 1), rect.width() / 4, rect.height() / 4)
            painter.drawRect(rect.adjusted(inset, inset, -inset, -inset))
            painter.setBrush(self.brush())
        self.paint_details(painter, rect)
        self._paint_label(painter, option, rect, outline)

    def paint_details(self, painter: QPainter, rect: QRectF) -> None:
        """Extra drawing inside the footprint (a rack's front edge); none by default."""

    def _paint_label(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, rect: QRectF, marker: QColor
    ) -> None:
        """Draw the label lines that fit the item's on-screen size, in fixed-size pixels."""
        scale = option.levelOfDetailFromTransform(painter.worldTransform())
        width_px, height_px = rect.width() * scale, rect.height() * scale
        on_screen = painter.worldTransform().mapRect(rect)
        painter.save()
        painter.resetTransform()
        if marker is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(marker)
            painter.drawEllipse(on_screen.topRight() + QPointF(-5, 5), 4.0, 4.0)
        lines = self._fitting_lines(width_px, height_px)
        vertical = self.vertical_labels and not lines
        if vertical:
            lines = self._fitting_lines(height_px, width_px)
        if lines:
            painter.setFont(LABEL_FONT)
            dark_fill = self.brush().color().lightnessF() < 0.45  # live colours can be dark
            painter.setPen(QColor("white") if dark_fill else QColor("#101418"))
            if vertical:
                painter.translate(on_screen.center())
                painter.rotate(-90)
                on_screen = QRectF(-height_px / 2, -width_px / 2, height_px, width_px)
            painter.drawText(on_screen, Qt.AlignmentFlag.AlignCenter, "\n".join(lines))
        painter.restore()

    def _fitting_lines(self, width_px: float, height_px: float) -> list[str]:
        fitting: list[str] = []
        for line in self.lines:
            if (len(fitting) + 1) * LABEL_METRICS.height() > height_px - 2:
                break
            if LABEL_METRICS.horizontalAdvance(line) > width_px - 3:
                break
            fitting.append(line)
        return fitting


class RackItem(EquipmentItem):
    """A rack; the darker band marks its front (cold aisle side, toward -y before rotation)."""

    def paint_details(self, painter: QPainter, rect: QRectF) -> None:
        band = QRectF(rect.left(), rect.top(), rect.width(), rect.height() * 0.08)
        painter.fillRect(band, self.brush().color().darker(140))


class LoopItem(FiguresTooltip, QGraphicsPathItem):
    """A TCS loop's pipe route, plus stubs from the route to each rack it serves."""

    def __init__(
        self,
        loop_id: str,
        route: list[tuple[float, float]],
        rack_positions: dict[str, tuple[float, float]],
        colour: QColor,
    ):
        path = QPainterPath()
        if route:
            path.addPolygon(QPolygonF([QPointF(x, y) for x, y in route]))
        self.rack_ids = frozenset(rack_positions)
        self.route = list(route)
        for x, y in rack_positions.values():
            nearest = nearest_point_on_polyline(route, (x, y)) if route else (x, y)
            path.moveTo(x, y)
            path.lineTo(*nearest)
        super().__init__(path)
        self.entity_id = loop_id
        self.setPen(cosmetic_pen(colour, 4.0))
        self.setZValue(-1)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setAcceptHoverEvents(True)

    def shape(self) -> QPainterPath:
        """The pipe itself, a little wider than drawn: the default shape of an open path is the
        area it encloses, which would select the loop by clicks (and rubber bands) beside it."""
        stroker = QPainterPathStroker()
        stroker.setWidth(PIPE_PICK_WIDTH_M)
        return stroker.createStroke(self.path())

    def boundingRect(self) -> QRectF:
        return self.shape().boundingRect()

    def nearest_segment(self, point: tuple[float, float]) -> int:
        """Index of the route segment closest to ``point`` (segment i joins points i and i+1)."""
        distances = [
            math.dist(point, nearest_point_on_polyline([a, b], point))
            for a, b in itertools.pairwise(self.route)
        ]
        return distances.index(min(distances)) if distances else 0

    def set_colour(self, colour: QColor) -> None:
        if self.pen().color() != colour:
            self.setPen(cosmetic_pen(colour, 4.0))

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setPen(SELECTED_PEN if self.isSelected() else self.pen())
        painter.drawPath(self.path())


class PlanNote(QGraphicsItem):
    """A short label beside a loop or feed, in screen pixels whatever the zoom: Run mode's
    measured-against-designed figure ("472 kW, +5 % vs design"). A flagged note (the design's
    assumption is off) is filled in the off-design colour and marked with a diamond, so it
    reads without colour too. Drawn only where it fits the ``room_m`` it has on the plan at the
    current zoom: zoomed out on a hall of hundreds of loops notes would be a smear of text (the
    tooltip still says it all)."""

    PAD_PX = 3.0
    GAP_PX = 4.0

    def __init__(self, entity_id: str, at: QPointF, below: bool, room_m: float):
        super().__init__()
        self.entity_id = entity_id
        self.below = below
        """Hangs below ``at`` (True) or stands above it."""
        self.room_m = room_m
        """How wide a note may be, in metres of plan, before it would run into its neighbours'."""
        self.text = ""
        self.flagged = False
        self.setPos(at)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setZValue(2)

    def set_text(self, text: str, flagged: bool) -> None:
        text = f"◆ {text}" if flagged else text
        if (text, flagged) != (self.text, self.flagged):
            self.prepareGeometryChange()
            self.text, self.flagged = text, flagged
            self.update()

    def boundingRect(self) -> QRectF:
        width = LABEL_METRICS.horizontalAdvance(self.text) + 2 * self.PAD_PX
        height = LABEL_METRICS.height() + 2 * self.PAD_PX
        top = self.GAP_PX if self.below else -self.GAP_PX - height
        return QRectF(-width / 2, top, width, height)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        box = self.boundingRect()
        view = widget.parentWidget() if widget is not None else None
        if isinstance(view, QGraphicsView) and box.width() > self.room_m * view.transform().m11():
            return
        painter.setPen(cosmetic_pen(OFF_DESIGN if self.flagged else QColor("#90a4ae")))
        painter.setBrush(OFF_DESIGN if self.flagged else QColor(255, 255, 255, 225))
        painter.drawRoundedRect(box, 3, 3)
        painter.setFont(LABEL_FONT)
        painter.setPen(QColor("white") if self.flagged else QColor("#101418"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self.text)


def nearest_point_on_polyline(
    points: list[tuple[float, float]], target: tuple[float, float]
) -> tuple[float, float]:
    best, best_d2 = points[0], float("inf")
    tx, ty = target
    for (ax, ay), (bx, by) in zip(points, points[1:] or points, strict=False):
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((tx - ax) * dx + (ty - ay) * dy) / length2))
        px, py = ax + t * dx, ay + t * dy
        d2 = (px - tx) ** 2 + (py - ty) ** 2
        if d2 < best_d2:
            best, best_d2 = (px, py), d2
    return best

"""The menu bar (File, Edit, Design, View, Help) and the File tool bar, which repeats the
commonest of its commands.

Edit commands and undo/redo are also added to the plan view, so their shortcuts (Delete,
Ctrl+D, ...) reach it while it has focus. Undo and redo follow the undo group's active stack:
the open document's in Design, none in Run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtGui import QAction, QKeySequence, QUndoGroup
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QToolBar

from factoryfloor.app.alarm_journal import show_alarm_journal
from factoryfloor.app.audit_log import show_audit_log
from factoryfloor.app.editor_controller import EditorController
from factoryfloor.app.export_history import export_history
from factoryfloor.app.file_commands import ExportFormat, FileCommands
from factoryfloor.app.mode_switch import ModeSwitch
from factoryfloor.app.service_commands import ServiceCommands, choose_service
from factoryfloor.app.settings_commands import SettingsCommands
from factoryfloor.backend.design.edits import AlignEdge
from factoryfloor.backend.service.roles import Role, permits
from factoryfloor.resources import demo_path
from factoryfloor.widgets.plan_editor import PlanEditorView

ALIGN_ITEMS: tuple[tuple[str, AlignEdge], ...] = (
    ("Left", "left"),
    ("Right", "right"),
    ("Top", "top"),
    ("Bottom", "bottom"),
    ("Centres horizontally", "v-centre"),
    ("Centres vertically", "h-centre"),
)
"""Edit > Align: menu label and the edge the selection lines up on."""


class Menus:
    """Builds the window's menus; keeps the actions the File tool bar and the window use."""

    def __init__(self, window: QMainWindow, files: FileCommands, controller: EditorController,
                 plan_view: PlanEditorView, undo_group: QUndoGroup,
                 panel_docks: Sequence[QDockWidget], modes: ModeSwitch,
                 services: ServiceCommands, settings: SettingsCommands):  # fmt: skip
        self.window = window
        keys = QKeySequence.StandardKey
        c = controller
        self.new_action = self._action("&New", files.new_design, keys.New)
        self.open_action = self._action("&Open…", files.choose_file, keys.Open)
        self.save_action = self._action("&Save", files.save, keys.Save)
        self.save_as_action = self._action("Save &As…", files.save_as, keys.SaveAs)
        file_menu = window.menuBar().addMenu("&File")
        file_menu.addActions([self.new_action, self.open_action])
        recent_menu = file_menu.addMenu("Open &Recent")
        recent_menu.aboutToShow.connect(lambda: files.fill_recent_menu(recent_menu))
        file_menu.addAction(
            self._action("Open &Demo Facility", lambda: files.open_file(demo_path()))
        )
        file_menu.addSeparator()
        file_menu.addActions([self.save_action, self.save_as_action])
        export_menu = file_menu.addMenu("&Export")
        for label, export_format in (("Plan as &PNG…", ExportFormat.PNG),
                                     ("Plan as &SVG…", ExportFormat.SVG),
                                     ("Figures as &CSV…", ExportFormat.CSV)):  # fmt: skip
            export_menu.addAction(
                self._action(label, lambda _=False, f=export_format: files.export(f))
            )
        export_menu.addAction(self._action("&History (CSV or Parquet)…", lambda: export_history(
            window, services.link(), files.tasks)))  # fmt: skip
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Connect to Service…", lambda: choose_service(
            window, services)))  # fmt: skip
        self.apply_design_action = self._action("A&pply Design to Service…", services.apply_design)
        self.disconnect_action = self._action("&Disconnect from Service", services.disconnect)
        file_menu.addActions([self.apply_design_action, self.disconnect_action])
        services.attached_changed.connect(self._show_attached)
        self._services = services
        self._show_attached()
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", window.close, keys.Quit))

        self.edit_menu = window.menuBar().addMenu("&Edit")
        # The group's actions follow the open document's stack, with its labels ("Undo Move C05").
        self.undo_action = undo_group.createUndoAction(window, "&Undo")
        self.undo_action.setShortcut(keys.Undo)
        self.redo_action = undo_group.createRedoAction(window, "&Redo")
        self.redo_action.setShortcut(keys.Redo)
        self.undo_action.setIconText("Undo")  # the tool bar stays put; the menu names the edit
        self.redo_action.setIconText("Redo")
        self.edit_menu.addActions([self.undo_action, self.redo_action])
        self.edit_menu.addSeparator()
        edit_actions = [
            self._action("&Delete", c.delete_selection, keys.Delete),
            self._action("D&uplicate", c.duplicate_selection, "Ctrl+D"),
            self._action("R&otate 90°", c.rotate_selection, "Ctrl+R"),
            self._action("Select &All", plan_view.scene().select_all, keys.SelectAll),
        ]
        self.edit_menu.addActions(edit_actions)
        align_menu = self.edit_menu.addMenu("A&lign")
        for label, edge in ALIGN_ITEMS:
            align_menu.addAction(self._action(label, lambda _=False, e=edge: c.align_selection(e)))
        distribute_menu = self.edit_menu.addMenu("Dis&tribute")
        distribute_menu.addAction(self._action("Horizontally", lambda: c.distribute_selection("x")))
        distribute_menu.addAction(self._action("Vertically", lambda: c.distribute_selection("y")))
        for action in edit_actions:
            plan_view.addAction(action)
        plan_view.addActions([self.undo_action, self.redo_action])

        self.design_menu = window.menuBar().addMenu("&Design")
        self.hall_settings_action = self._action("&Hall Settings…", settings.edit_hall)
        self.telemetry_action = self._action("&Telemetry Sources…", settings.edit_telemetry)
        self.design_menu.addActions([self.hall_settings_action, self.telemetry_action])

        view_menu = window.menuBar().addMenu("&View")
        self.fit_action = self._action("&Fit Hall", plan_view.fit_hall, "Ctrl+0")
        self.zoom_in_action = self._action("Zoom &In", lambda: plan_view.zoom_by(1.25),
                                           keys.ZoomIn)  # fmt: skip
        self.zoom_out_action = self._action("Zoom &Out", lambda: plan_view.zoom_by(0.8),
                                            keys.ZoomOut)  # fmt: skip
        view_menu.addActions([self.fit_action, self.zoom_in_action, self.zoom_out_action])
        view_menu.addSeparator()
        for dock in panel_docks:
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        view_menu.addAction(self._action("Alarm &Journal and Report…", lambda: show_alarm_journal(
            window, services.link, files.tasks)))  # fmt: skip
        view_menu.addAction(self._action("&Audit Log…", lambda: show_audit_log(
            window, services.link, files.tasks)))  # fmt: skip
        sound = modes.run_view.alarm_sound
        self.alarm_sound_action = self._action("&Sound for New High-Priority Alarms",
                                               sound.set_enabled)  # fmt: skip
        self.alarm_sound_action.setCheckable(True)
        self.alarm_sound_action.setChecked(sound.enabled)
        view_menu.addAction(self.alarm_sound_action)
        view_menu.addAction(self._action("&Control-Room Mode…", modes.choose_control_room, "F11"))
        help_menu = window.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("&About FactoryFloor", self._about))

    def _show_attached(self) -> None:
        """Apply only for an engineer attached to a service (the service checks it again)."""
        services = self._services
        attached = services.attached
        engineer = attached and permits(services.connection.role, Role.ENGINEER)
        self.apply_design_action.setEnabled(engineer)
        needs = "" if engineer or not attached else "Applying a design needs the engineer role"
        self.apply_design_action.setToolTip(needs)
        self.disconnect_action.setEnabled(attached)

    def file_tool_bar(self) -> QToolBar:
        """New, open, save; undo, redo; fit and zoom."""
        bar = QToolBar("File")
        bar.setObjectName("fileToolBar")
        bar.addActions([self.new_action, self.open_action, self.save_action])
        bar.addSeparator()
        bar.addActions([self.undo_action, self.redo_action])
        bar.addSeparator()
        bar.addActions([self.fit_action, self.zoom_in_action, self.zoom_out_action])
        return bar

    def _action(self, text: str, slot: Callable[..., object],
                shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
                ) -> QAction:  # fmt: skip
        action = QAction(text, self.window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _about(self) -> None:
        QMessageBox.about(self.window, "About FactoryFloor",
                          "<b>FactoryFloor</b><br>Design and run AI factories: floor plan, "
                          "cooling, power and tokens per watt.")  # fmt: skip

"""File > Connect to Service: where the service is, its key, and who signs in.

The key is filled in when it is known (pinned on an earlier connection, or the key file of a
service on this machine); a service elsewhere needs it pasted once, from ``factoryfloor serve``'s
start-up line or ``--show-key``. Leaving the user name empty attaches as a viewer, as a wall
display does. The password is never stored.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QWidget

from factoryfloor.backend.service.address import DEFAULT_PORT, AddressError, parse_address
from factoryfloor.backend.service.client import Credentials, ServiceAddress
from factoryfloor.backend.service.keys import (
    KnownServices,
    ServiceKeyError,
    fingerprint,
    resolve_service_key,
)
from factoryfloor.backend.service.users import default_data_folder
from factoryfloor.widgets.form_dialog import lay_out_form


class ConnectDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, address: str = "",
                 known: KnownServices | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle("Connect to Service")
        self.known = known or KnownServices()
        self.address_edit = QLineEdit(address or f"127.0.0.1:{DEFAULT_PORT}")
        self.key_edit = QLineEdit()
        self.key_edit.setPlaceholderText("40 characters, from 'factoryfloor serve --show-key'")
        self.fingerprint_label = QLabel()
        self.user_edit = QLineEdit()
        self.user_edit.setPlaceholderText("empty: attach as a viewer")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        rows = [("Service address:", self.address_edit), ("Service key:", self.key_edit),
                ("", self.fingerprint_label), ("User name:", self.user_edit),
                ("Password:", self.password_edit)]  # fmt: skip
        self.error_label = lay_out_form(self, rows, "Connect")
        self.address_edit.editingFinished.connect(self._fill_known_key)
        self.key_edit.textChanged.connect(self._show_fingerprint)
        self._fill_known_key()
        self.chosen: tuple[ServiceAddress, Credentials] | None = None

    def _fill_known_key(self) -> None:
        if self.key_edit.text().strip():
            return
        try:
            host, port = parse_address(self.address_edit.text())
            key = resolve_service_key(host, port, None, self.known, default_data_folder())
        except (AddressError, ServiceKeyError):
            return
        self.key_edit.setText(key)

    def _show_fingerprint(self, text: str) -> None:
        key = text.strip()
        self.fingerprint_label.setText(f"Fingerprint {fingerprint(key)}" if key else "")

    def accept(self) -> None:
        """Check what was typed; say what is wrong in the dialog rather than closing it."""
        user = self.user_edit.text().strip()
        if user and not self.password_edit.text():
            self.error_label.setText(f"Enter {user}'s password, or leave the user name empty to "
                                     "attach as a viewer.")  # fmt: skip
            return
        try:  # last: a key given here is remembered for the address
            host, port = parse_address(self.address_edit.text())
            key = resolve_service_key(host, port, self.key_edit.text().strip() or None,
                                      self.known, default_data_folder())  # fmt: skip
        except (AddressError, ServiceKeyError) as error:
            self.error_label.setText(str(error))
            return
        self.chosen = (ServiceAddress(host, port, key),
                       Credentials(user, self.password_edit.text()))  # fmt: skip
        super().accept()

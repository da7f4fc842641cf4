"""Add, edit and delete connection profiles (a Supabase project or a local workspace folder)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop import keystore
from tnm_desktop.errors import TnmError, UserError
from tnm_desktop.gui.widgets import InlineMessage, ask
from tnm_desktop.gui.widgets.tasks import TaskRunner
from tnm_desktop.profiles import DEFAULT_WEBHOOK_BASE, ConnectionProfile, ProfileKind, ProfileStore


class ProfilesDialog(QDialog):
    """The list of profiles and a form for the selected one.

    Args:
        tasks: Runs the profile file's reads and writes off the GUI thread.
        store: The profiles file.
        profiles: The profiles as last loaded.
        default_id: The default profile's id.
        selected_id: The profile to show first.

    Signals:
        profiles_changed(list, object): the profiles and the default id, after a save or delete.
    """

    profiles_changed = Signal(list, object)

    def __init__(self, tasks: TaskRunner, store: ProfileStore, profiles: list[ConnectionProfile],
                 default_id: str | None, selected_id: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connection profiles")
        self.setObjectName("profiles_dialog")
        self._tasks = tasks
        self._store = store
        self._profiles = list(profiles)
        self._default_id = default_id
        self._editing: ConnectionProfile | None = None

        self.list = QListWidget()
        self.list.setFixedWidth(200)
        self.list.currentRowChanged.connect(self._on_list_current_row_changed)
        self.add_local = QPushButton("New local workspace")
        self.add_local.clicked.connect(lambda: self._start_new(ProfileKind.LOCAL))
        self.add_cloud = QPushButton("New Supabase project")
        self.add_cloud.clicked.connect(lambda: self._start_new(ProfileKind.SUPABASE))
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        left = QVBoxLayout()
        left.addWidget(self.list, 1)
        for button in (self.add_local, self.add_cloud, self.delete_button):
            left.addWidget(button)

        self.name = QLineEdit()
        self.local_kind = QRadioButton("Local workspace (no account needed)")
        self.cloud_kind = QRadioButton("Supabase project")
        kinds = QButtonGroup(self)
        kinds.addButton(self.local_kind)
        kinds.addButton(self.cloud_kind)
        self.local_kind.toggled.connect(self._on_local_kind_toggled)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("A folder for the workspace's database")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://abcd.supabase.co")
        self.anon_key = QLineEdit()
        self.anon_key.setPlaceholderText("The project's anon / publishable key")
        self.webhook = QLineEdit()
        # Empty: this workspace's own receiver, or the Supabase project's Edge Function.
        self.webhook.setPlaceholderText("Automatic (or your tunnel's address, https://…)")
        self.make_default = QCheckBox("Use this profile by default")
        self.message = InlineMessage()
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Kind", self.local_kind)
        form.addRow("", self.cloud_kind)
        self._folder_label = QLabel("Folder")
        form.addRow(self._folder_label, folder_row)
        self._url_label = QLabel("Project URL")
        form.addRow(self._url_label, self.url)
        self._key_label = QLabel("Anon key")
        form.addRow(self._key_label, self.anon_key)
        form.addRow("Webhook base URL", self.webhook)
        form.addRow("", self.make_default)
        self.save_button = QPushButton("Save profile")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        right = QVBoxLayout()
        right.addLayout(form)
        right.addWidget(self.message)
        right.addStretch(1)
        right.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignRight)

        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        body = QHBoxLayout()
        body.addLayout(left)
        body.addLayout(right, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(close)
        self.resize(720, 420)
        self._fill_list(selected_id)

    # The list ---------------------------------------------------------------------------------

    def _fill_list(self, selected_id: str | None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for profile in self._profiles:
            suffix = "  (default)" if profile.id == self._default_id else ""
            item = QListWidgetItem(profile.name + suffix)
            item.setData(Qt.ItemDataRole.UserRole, profile.id)
            self.list.addItem(item)
        self.list.blockSignals(False)
        ids = [p.id for p in self._profiles]
        if selected_id in ids:
            self.list.setCurrentRow(ids.index(selected_id))
        elif self._profiles:
            self.list.setCurrentRow(0)
        else:
            self._start_new(ProfileKind.LOCAL)

    def _on_list_current_row_changed(self, row: int) -> None:
        if 0 <= row < len(self._profiles):
            self._edit(self._profiles[row])

    def _start_new(self, kind: ProfileKind) -> None:
        self.list.clearSelection()
        self._edit(ConnectionProfile.new("", kind))

    def _edit(self, profile: ConnectionProfile) -> None:
        self._editing = profile
        self.message.clear()
        self.name.setText(profile.name)
        (self.local_kind if profile.kind is ProfileKind.LOCAL else self.cloud_kind).setChecked(True)
        self.folder.setText(profile.workspace_dir)
        self.url.setText(profile.supabase_url)
        self.anon_key.setText(profile.anon_key)
        self.webhook.setText(profile.webhook_base_url)
        self.make_default.setChecked(profile.id == self._default_id)
        self.delete_button.setEnabled(any(p.id == profile.id for p in self._profiles))
        self._on_local_kind_toggled(profile.kind is ProfileKind.LOCAL)
        self.name.setFocus()

    def _on_local_kind_toggled(self, local: bool) -> None:
        for widget in (self._folder_label, self.folder):
            widget.setEnabled(local)
        for widget in (self._url_label, self.url, self._key_label, self.anon_key):
            widget.setEnabled(not local)

    def _on_browse_clicked(self) -> None:
        # open() rather than the static helper: the static one runs a nested event loop.
        chooser = QFileDialog(self, "Workspace folder", self.folder.text())
        chooser.setFileMode(QFileDialog.FileMode.Directory)
        chooser.setOption(QFileDialog.Option.ShowDirsOnly)
        chooser.fileSelected.connect(self.folder.setText)
        chooser.open()

    # Saving and deleting ----------------------------------------------------------------------

    def form_profile(self) -> ConnectionProfile:
        """The profile as the form describes it (not validated)."""
        assert self._editing is not None
        return replace(self._editing, name=self.name.text(),
                       kind=ProfileKind.LOCAL if self.local_kind.isChecked() else ProfileKind.SUPABASE,
                       workspace_dir=self.folder.text().strip(), supabase_url=self.url.text(),
                       anon_key=self.anon_key.text(),
                       webhook_base_url=self.webhook.text().strip() or DEFAULT_WEBHOOK_BASE)

    def _on_save_button_clicked(self) -> None:
        try:
            profile = self.form_profile().validated()
        except UserError as exc:
            self.message.show_error(exc.message)
            return
        self.save_button.setEnabled(False)
        self._tasks.spawn(self._save(profile, self.make_default.isChecked()), name="save-profile",
                          on_result=self._saved, on_error=self._failed)

    async def _save(self, profile: ConnectionProfile, make_default: bool) -> tuple[list, str | None, str]:
        saved = await asyncio.to_thread(self._store.upsert, profile, make_default=make_default)
        profiles, default = await asyncio.to_thread(self._store.load)
        return profiles, default, saved.id

    def _saved(self, result: tuple[list, str | None, str]) -> None:
        self._profiles, self._default_id, saved_id = result
        self.save_button.setEnabled(True)
        self._fill_list(saved_id)
        self.message.show_info("Saved.")
        self.profiles_changed.emit(self._profiles, self._default_id)

    def _failed(self, exc: TnmError) -> None:
        self.save_button.setEnabled(True)
        self.message.show_error(exc.message)

    def _on_delete_button_clicked(self) -> None:
        profile = self._editing
        if profile is None or not any(p.id == profile.id for p in self._profiles):
            return
        where = " Its workspace folder stays on disk." if profile.kind is ProfileKind.LOCAL else ""
        ask(self, "Delete profile", f"Delete the profile “{profile.name}”?{where}", "Delete",
            lambda: self._tasks.spawn(self._delete(profile), name="delete-profile",
                                      on_result=self._saved, on_error=self._failed),
            destructive=True)

    async def _delete(self, profile: ConnectionProfile) -> tuple[list, str | None, str]:
        await asyncio.to_thread(self._store.remove, profile.id)
        await asyncio.to_thread(keystore.delete_secret, profile.session_key)  # its remembered session
        profiles, default = await asyncio.to_thread(self._store.load)
        return profiles, default, default or ""

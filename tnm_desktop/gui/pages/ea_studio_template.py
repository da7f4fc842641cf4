"""New EA from a template: pick one, fill in its parameters, get a project with a generated version.

The form is built from the template's metadata (:mod:`tnm_desktop.ea.templates`): a field per
parameter, each checked as it is typed with the parameter's own rule, its message right under
it; rules between parameters (fast period below slow period) are shown under the form. Reading
and rendering the template files happens in a worker thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.domain import EaProject, EaVersion, NewVersion, VersionOrigin
from tnm_desktop.ea.templates import (
    EaTemplate,
    ParamType,
    ParamValue,
    TemplateParameter,
    list_templates,
    render_template,
    validate_parameters,
)
from tnm_desktop.errors import TnmError, UserError
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.ea_studio_editor import TIMEFRAMES
from tnm_desktop.gui.widgets import InlineMessage
from tnm_desktop.gui.widgets.code_editor import CodeEditor


class ParameterField:
    """One parameter's editor widget and its inline message."""

    def __init__(self, parameter: TemplateParameter) -> None:
        self.parameter = parameter
        self.widget: QWidget
        if parameter.type is ParamType.BOOL:
            box = QCheckBox()
            box.setChecked(bool(parameter.default))
            self.widget = box
        elif parameter.type is ParamType.ENUM:
            combo = QComboBox()
            # Long choice labels must not widen the whole form.
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
            for choice in parameter.choices:
                combo.addItem(choice.label, choice.value)
            combo.setCurrentIndex(combo.findData(parameter.default))
            self.widget = combo
        else:
            line = QLineEdit(str(parameter.default))
            if parameter.minimum is not None or parameter.maximum is not None:
                low = "" if parameter.minimum is None else f"{parameter.minimum:g}"
                high = "" if parameter.maximum is None else f"{parameter.maximum:g}"
                unit = " characters" if parameter.type is ParamType.STRING else ""
                line.setToolTip(f"From {low or '…'} to {high or '…'}{unit}")
            self.widget = line
        self.widget.setObjectName(f"param_{parameter.key}")
        self.message = InlineMessage()

    @property
    def edited(self) -> Any:
        """The widget's signal for an edit."""
        if isinstance(self.widget, QCheckBox):
            return self.widget.toggled
        if isinstance(self.widget, QComboBox):
            return self.widget.currentIndexChanged
        assert isinstance(self.widget, QLineEdit)
        return self.widget.textChanged

    def raw(self) -> object:
        """What the trader entered."""
        if isinstance(self.widget, QCheckBox):
            return self.widget.isChecked()
        if isinstance(self.widget, QComboBox):
            return self.widget.currentData()
        assert isinstance(self.widget, QLineEdit)
        return self.widget.text()

    def set_raw(self, value: object) -> None:
        """Enter a value (as the trader would)."""
        if isinstance(self.widget, QCheckBox):
            self.widget.setChecked(bool(value))
        elif isinstance(self.widget, QComboBox):
            self.widget.setCurrentIndex(self.widget.findData(value))
        else:
            assert isinstance(self.widget, QLineEdit)
            self.widget.setText(str(value))

    def checked(self) -> ParamValue | None:
        """The value if it is valid (the message cleared), else None (the message shown)."""
        try:
            value = self.parameter.check(self.raw())
        except UserError as exc:
            self.message.show_error(exc.message)
            return None
        self.message.clear()
        return value


class TemplateDialog(QDialog):
    """Pick a template, fill in its parameters, and create the project.

    Signals:
        created(object): the new EaProject (its first version is the generated one).
    """

    created = Signal(object)

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.template: EaTemplate | None = None
        self.fields: dict[str, ParameterField] = {}
        self.values: dict[str, ParamValue] | None = None
        self.setWindowTitle("New EA from a template")
        self.resize(1100, 720)
        self.templates = QListWidget()
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.name_edit = QLineEdit()
        self.symbol_edit = QLineEdit("EURUSD")
        self.timeframe_box = QComboBox()
        self.timeframe_box.addItems(TIMEFRAMES)
        self.timeframe_box.setCurrentText("H1")
        self.form_host = QScrollArea()
        self.form_host.setWidgetResizable(True)
        self.form_host.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.rules_message = InlineMessage()
        self.message = InlineMessage()
        self.preview = CodeEditor(highlight_current_line=False)
        self.preview.setReadOnly(True)
        self.preview.set_mql5_highlighting()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.create_button = self.buttons.addButton("Create project", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.rejected.connect(self.reject)
        self.create_button.clicked.connect(self._on_create_button_clicked)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(QLabel("Templates"))
        lv.addWidget(self.templates, 1)
        lv.addWidget(self.description)
        middle = QWidget()
        mv = QVBoxLayout(middle)
        mv.setContentsMargins(0, 0, 0, 0)
        project = QFormLayout()
        project.addRow("Project name", self.name_edit)
        market = QHBoxLayout()
        market.addWidget(self.symbol_edit, 1)
        market.addWidget(self.timeframe_box)
        project.addRow("Symbol and timeframe", market)
        mv.addLayout(project)
        mv.addWidget(self.form_host, 1)
        mv.addWidget(self.rules_message)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(middle)
        split.addWidget(self.preview)
        split.setSizes([230, 420, 450])
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.templates.currentRowChanged.connect(self._on_templates_current_row_changed)
        self.name_edit.textChanged.connect(self._on_name_edit_text_changed)
        self._all: list[EaTemplate] = []
        self._ctx.tasks.spawn(asyncio.to_thread(list_templates), name="ea-studio: templates",
                              key=f"ea-templates:{id(self)}", on_result=self._on_templates_loaded)

    @property
    def loaded(self) -> bool:
        """Whether the templates are listed."""
        return bool(self._all)

    def choose(self, template_id: str) -> None:
        """Select a template by id."""
        row = next((i for i, t in enumerate(self._all) if t.id == template_id), -1)
        self.templates.setCurrentRow(row)

    def _on_templates_loaded(self, templates: list[EaTemplate]) -> None:
        self._all = templates
        for template in templates:
            item = QListWidgetItem(template.name)
            item.setToolTip(template.description)
            self.templates.addItem(item)
        if templates:
            self.templates.setCurrentRow(0)

    def _on_templates_current_row_changed(self, row: int) -> None:
        if not 0 <= row < len(self._all):
            return
        template = self.template = self._all[row]
        self.description.setText(template.description)
        self.name_edit.setText(template.name)
        form_widget = QWidget()
        form = QFormLayout(form_widget)
        self.fields = {}
        for parameter in template.parameters:
            field = ParameterField(parameter)
            self.fields[parameter.key] = field
            column = QVBoxLayout()
            column.setSpacing(2)
            column.addWidget(field.widget)
            column.addWidget(field.message)
            form.addRow(parameter.label, column)
            field.edited.connect(self._on_field_edited)
        self.form_host.setWidget(form_widget)
        self._revalidate()

    def _on_name_edit_text_changed(self, _text: str) -> None:
        self._revalidate()

    def _on_field_edited(self, *_value: object) -> None:
        self._revalidate()

    def _revalidate(self) -> None:
        template = self.template
        if template is None:
            return
        values = {key: field.checked() for key, field in self.fields.items()}
        complete = {k: v for k, v in values.items() if v is not None}
        valid = len(complete) == len(values)
        self.rules_message.clear()
        if valid:
            # Every field is fine on its own: what is left are the rules between them.
            try:
                complete = validate_parameters(template, complete)
            except UserError as exc:
                self.rules_message.show_error(exc.message)
                valid = False
        self.values = complete if valid else None
        self.create_button.setEnabled(valid and bool(self.name_edit.text().strip()))
        if valid:
            self._ctx.tasks.spawn(asyncio.to_thread(render_template, template, complete),
                                  name="ea-studio: preview", key=f"ea-preview:{id(self)}",
                                  on_result=self._on_preview_rendered, on_error=lambda _exc: None)

    def _on_preview_rendered(self, source: str) -> None:
        bar = self.preview.verticalScrollBar().value()
        self.preview.setPlainText(source)
        self.preview.verticalScrollBar().setValue(bar)

    def _on_create_button_clicked(self) -> None:
        template, values = self.template, self.values
        if template is None or values is None:
            return
        name, symbol = self.name_edit.text().strip(), self.symbol_edit.text().strip().upper() or None
        timeframe = self.timeframe_box.currentText()
        data = self._ctx.services.data

        async def create() -> tuple[EaProject, EaVersion]:
            source = await asyncio.to_thread(render_template, template, values)
            version = NewVersion(source, VersionOrigin.GENERATED, f"Generated from the template “{template.name}”",
                                 dict(values))
            return await data.create_ea_project(name, version, description=template.description, symbol=symbol,
                                                timeframe=timeframe)

        def done(result: tuple[EaProject, EaVersion]) -> None:
            self.created.emit(result[0])
            self.accept()

        def failed(exc: TnmError) -> None:
            self.create_button.setEnabled(True)
            self.message.show_error(exc.message)

        self.message.clear()
        self.create_button.setEnabled(False)
        self._ctx.tasks.spawn(create(), name="ea-studio: create from template", on_result=done, on_error=failed)

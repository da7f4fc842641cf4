"""EA Studio: a new EA from a template, its parameters checked inline, saved as a generated version."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from pytestqt.qtbot import QtBot
from tnm_desktop.gui.pages.ea_studio import EaStudioView
from tnm_desktop.gui.pages.ea_studio_template import TemplateDialog
from tnm_desktop.gui.widgets import theme

from tests.gui.conftest import MakeContext
from tests.gui.ea_agent_fixtures import app_theme, save_screenshot, settle
from tests.pg import Db, User
from tests.waiting import eventually


def _ready(dialog: TemplateDialog) -> bool:
    return dialog.loaded and dialog.create_button.isEnabled()


async def test_new_ea_from_a_template_is_a_generated_version_with_its_parameters(
        ctx_for: MakeContext, db: Db, user: User, qtbot: QtBot, tmp_path: Path) -> None:
    ctx = await ctx_for(user)
    view = EaStudioView(ctx)
    qtbot.addWidget(view)
    view.resize(1400, 860)
    await eventually(lambda: view.projects.rowCount() == 0 and view.version is None, what="an empty studio")
    view.new_button.click()
    dialog = view.template_dialog
    assert dialog is not None
    qtbot.addWidget(dialog)
    await eventually(lambda: dialog.loaded, what="the templates")
    dialog.choose("ma_cross")
    assert dialog.template is not None and dialog.template.id == "ma_cross"
    fields = dialog.fields
    assert set(fields) == {p.key for p in dialog.template.parameters}
    await eventually(lambda: dialog.preview.toPlainText().startswith("//+---"), what="the preview")

    # Each field says what is wrong with it, right under it, and Create waits until all is well.
    fields["fast_period"].set_raw("ten")
    assert fields["fast_period"].message.text() == "“Fast MA period” must be a number."
    assert not dialog.create_button.isEnabled()
    fields["fast_period"].set_raw("45")
    assert fields["fast_period"].message.text() == ""
    assert dialog.rules_message.text() == "The fast period must be shorter than the slow period."
    assert not dialog.create_button.isEnabled()
    fields["risk_percent"].set_raw("25")
    assert fields["risk_percent"].message.text() == \
        "“Risk per trade (% of balance)” must be between 0.01 and 10 (it is 25)."
    fields["fast_period"].set_raw("12")
    fields["slow_period"].set_raw("48")
    fields["risk_percent"].set_raw("0.5")
    fields["ma_method"].set_raw("MODE_SMA")
    fields["close_on_opposite"].set_raw(False)
    assert dialog.rules_message.text() == "" and dialog.create_button.isEnabled()
    dialog.name_edit.setText("EURUSD 12/48 SMA")
    dialog.symbol_edit.setText("eurusd")
    await eventually(lambda: "InpFastPeriod       = 12;" in dialog.preview.toPlainText(), what="the new preview")
    with app_theme(theme.Theme.LIGHT):
        await save_screenshot(dialog, "ea_template.png", tmp_path)

    dialog.create_button.click()
    await eventually(lambda: view.version is not None, what="the new project open")
    row = db.admin.execute(
        "select p.name, p.symbol, p.timeframe, p.current_version_id = v.id as current, v.version_number, v.origin, "
        "v.parameters, v.note, v.source_code from ea_projects p join ea_versions v on v.project_id = p.id").fetchone()
    assert row is not None
    assert (row["name"], row["symbol"], row["timeframe"], row["current"], row["version_number"], row["origin"]) == \
        ("EURUSD 12/48 SMA", "EURUSD", "H1", True, 1, "generated")
    parameters = row["parameters"]
    assert isinstance(parameters, dict)
    assert (parameters["fast_period"], parameters["slow_period"], parameters["risk_percent"],
            parameters["ma_method"], parameters["close_on_opposite"]) == (12, 48, 0.5, "MODE_SMA", False)
    assert parameters["comment"] == "MA cross"  # the defaults are stored too: the version says all it was made from
    source = str(row["source_code"])
    assert "{{" not in source and "InpMaMethod         = MODE_SMA;" in source
    assert view.editor.toPlainText() == source
    assert view.pane.title.text() == "EURUSD 12/48 SMA — v1 · generated from a template · not compiled"
    assert view.versions.data(view.versions.index(0, 2)) == "Template"
    assert "fast_period = 12" in str(view.versions.data(view.versions.index(0, 0), role=3))  # the tooltip
    await settle(ctx)


async def test_a_taken_project_name_is_said_in_the_dialog(ctx_for: MakeContext, user: User, qtbot: QtBot) -> None:
    ctx = await ctx_for(user)
    view = EaStudioView(ctx)
    qtbot.addWidget(view)
    for attempt in range(2):
        view.new_button.click()
        dialog = view.template_dialog
        assert dialog is not None
        qtbot.addWidget(dialog)
        await eventually(partial(_ready, dialog), what="a ready form")
        dialog.name_edit.setText("Breakout")
        dialog.create_button.click()
        if attempt == 0:
            await eventually(lambda: view.version is not None, what="the first project")
    assert dialog is not None
    await eventually(lambda: dialog.message.text() != "", what="the refusal")
    assert dialog.message.text() == "You already have an EA project with that name."
    assert dialog.isVisible() and dialog.create_button.isEnabled()
    dialog.close()
    await settle(ctx)

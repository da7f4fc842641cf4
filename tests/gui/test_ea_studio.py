"""EA Studio: switching versions with unsaved edits, saving a version, and the diff of two versions."""

from __future__ import annotations

import json
import re
from pathlib import Path

from PySide6.QtWidgets import QMessageBox
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from tnm_desktop.domain import JobRequest, JobType, NewVersion
from tnm_desktop.gui.pages.ea_studio import EaStudioView
from tnm_desktop.gui.widgets import theme
from tnm_desktop.gui.widgets.diff_view import RowKind, side_by_side

from tests.gui.conftest import MakeContext
from tests.gui.ea_agent_fixtures import app_theme, save_screenshot, settle
from tests.pg import Db, User
from tests.waiting import eventually

V1 = """#property strict
input int InpFast = 10;
input int InpSlow = 30;

int OnInit()
{
   return(INIT_SUCCEEDED);
}

void OnTick()
{
   double fast = iMA(_Symbol, _Period, InpFast, 0, MODE_SMA, PRICE_CLOSE);
   Print("fast: ", fast);
}
"""
V2 = V1.replace("InpFast = 10", "InpFast = 12").replace('   Print("fast: ", fast);\n', "") \
    .replace("void OnTick()", "// Trades once per bar.\nvoid OnTick()")


def current_version_id(db: Db, project_id: str) -> str:
    row = db.admin.execute("select current_version_id::text as v from ea_projects where id = %s",
                           (project_id,)).fetchone()
    assert row is not None
    return str(row["v"])


def answer(box: QMessageBox | None, text: str) -> None:
    """Click the button labelled ``text`` of an open question."""
    assert box is not None and box.isVisible()
    next(b for b in box.buttons() if b.text().replace("&", "") == text).click()


async def open_studio(ctx_for: MakeContext, user: User, qtbot: QtBot) -> tuple[EaStudioView, str, list[str]]:
    """EA Studio over a project with two versions (v2 current)."""
    ctx = await ctx_for(user)
    project, first = await ctx.services.data.create_ea_project("MA cross", NewVersion(V1), symbol="EURUSD",
                                                               timeframe="H1")
    second = await ctx.services.data.save_ea_version(project.id, NewVersion(V2, note="Faster MA"))
    view = EaStudioView(ctx)
    qtbot.addWidget(view)
    view.resize(1400, 860)
    await eventually(lambda: view.version is not None and view.version.id == second.id, what="v2 open")
    return view, project.id, [first.id, second.id]


def type_into(view: EaStudioView, text: str) -> None:
    """Edit the source as the trader would (at the end of the text)."""
    cursor = view.editor.textCursor()
    cursor.movePosition(cursor.MoveOperation.End)
    view.editor.setTextCursor(cursor)
    view.editor.insertPlainText(text)


async def test_switching_with_unsaved_edits_asks_and_saving_adds_a_version(
        ctx_for: MakeContext, db: Db, user: User, qtbot: QtBot, qtmodeltester: ModelTester) -> None:
    view, project_id, (v1, v2) = await open_studio(ctx_for, user, qtbot)
    ctx = view.ctx
    assert view.editor.toPlainText() == V2 and not view.has_unsaved_changes()
    assert view.versions.rowCount() == 2 and view.versions.data(view.versions.index(0, 0)) == "● v2"
    assert not view.save_button.isEnabled()

    type_into(view, "// my edit\n")
    assert view.has_unsaved_changes() and view.save_button.isEnabled()
    assert view.dirty_label.text() == "● Unsaved changes"
    assert not view.job_buttons[next(iter(view.job_buttons))].isEnabled()  # compile the saved text, not this

    # Cancel: nothing changes, the edits stay.
    view.open_version(v1)
    answer(view.unsaved_prompt, "Cancel")
    assert view.version is not None and view.version.id == v2
    assert view.editor.toPlainText().endswith("// my edit\n") and view.has_unsaved_changes()
    assert current_version_id(db, project_id) == v2

    # Discard: the other version opens, and it is the project's current version in the database.
    view.open_version(v1)
    answer(view.unsaved_prompt, "Discard")
    await eventually(lambda: view.version is not None and view.version.id == v1, what="v1 open")
    assert current_version_id(db, project_id) == v1
    assert view.editor.toPlainText() == V1 and not view.has_unsaved_changes()
    assert view.versions.data(view.versions.index(1, 0)) == "● v1"

    # Save as new version, with a note: it becomes the open, current version.
    type_into(view, "// tuned\n")
    view.note_edit.setText("Tuned after the backtest")
    view.save_button.click()
    await eventually(lambda: view.versions.rowCount() == 3, what="v3 listed")
    row = db.admin.execute("select id::text as id, version_number, note, origin, source_code from ea_versions "
                           "where version_number = 3").fetchone()
    assert row is not None
    assert (row["note"], row["origin"], row["source_code"]) == ("Tuned after the backtest", "manual", V1 + "// tuned\n")
    assert current_version_id(db, project_id) == row["id"]
    assert view.version is not None and view.version.id == row["id"] and not view.has_unsaved_changes()
    assert view.note_edit.text() == ""

    # "Save as new version" from the question saves the edits first, then switches.
    type_into(view, "// keep me\n")
    view.open_version(v2)
    answer(view.unsaved_prompt, "Save as new version")
    await eventually(lambda: view.version is not None and view.version.id == v2, what="v2 open again")
    kept = db.admin.execute("select source_code from ea_versions where version_number = 4").fetchone()
    assert kept is not None and str(kept["source_code"]).endswith("// keep me\n")
    assert current_version_id(db, project_id) == v2
    await eventually(lambda: view.versions.rowCount() == 4, what="v4 listed")

    qtmodeltester.check(view.projects)
    qtmodeltester.check(view.versions)
    await settle(ctx)


async def test_diff_of_two_versions_marks_the_changed_lines(
        ctx_for: MakeContext, db: Db, user: User, qtbot: QtBot, tmp_path: Path) -> None:
    view, _project_id, (v1, v2) = await open_studio(ctx_for, user, qtbot)
    ctx = view.ctx
    view.select_versions(v1, v2)
    view.compare_button.click()
    dialog = view.diff_dialog
    assert dialog is not None
    qtbot.addWidget(dialog)
    await eventually(lambda: dialog.loaded, what="both sources in the diff")
    assert (dialog.old_box.currentData(), dialog.new_box.currentData()) == (v1, v2)

    rows = dialog.diff.rows
    assert rows == side_by_side(V1, V2)
    marked = [(r.kind, r.left_no, r.right_no) for r in rows if r.kind is not RowKind.EQUAL]
    assert marked == [(RowKind.CHANGED, 2, 2), (RowKind.ADDED, None, 10), (RowKind.REMOVED, 13, None)]
    assert " ".join(dialog.diff.summary_text.split()) == "Lines: 1 changed 1 added 1 removed"

    # What the panes show: the same rows on both sides, original line numbers, coloured rows.
    left, right = dialog.diff.left, dialog.diff.right
    assert left.document().blockCount() == right.document().blockCount() == len(rows)
    changed_row = next(i for i, r in enumerate(rows) if r.kind is RowKind.CHANGED)
    added_row = next(i for i, r in enumerate(rows) if r.kind is RowKind.ADDED)
    assert left.document().findBlockByNumber(changed_row).text() == "input int InpFast = 10;"
    assert right.document().findBlockByNumber(changed_row).text() == "input int InpFast = 12;"
    assert right.document().findBlockByNumber(added_row).text() == "// Trades once per bar."
    tinted = {sel.cursor.blockNumber(): sel.format.background().color() for sel in right.extraSelections()
              if sel.cursor.selectedText() == ""}
    assert tinted[added_row].green() > tinted[added_row].red()  # added: green
    assert tinted[changed_row] != tinted[added_row]
    assert changed_row not in {r for r, row in enumerate(rows) if row.kind is RowKind.EQUAL}
    assert left._label(added_row) == "" and right._label(added_row) == "10"  # filler row has no number
    # The changed characters themselves are marked: "10" → "12".
    spans = [(sel.cursor.blockNumber(), sel.cursor.selectedText()) for sel in right.extraSelections()
             if sel.cursor.selectedText()]
    assert (changed_row, "2") in spans

    # Scrolling one pane scrolls the other.
    dialog.resize(1100, 300)
    dialog.show()
    await eventually(lambda: left.verticalScrollBar().maximum() > 0, what="a scrollable diff")
    left.verticalScrollBar().setValue(3)
    assert right.verticalScrollBar().value() == 3

    with app_theme(theme.Theme.LIGHT):
        dialog.resize(1200, 520)
        await save_screenshot(dialog, "ea_diff.png", tmp_path)
    dialog.close()
    await settle(ctx)


async def test_the_deployed_version_is_shown_and_follows_a_deploy(ctx_for: MakeContext, user: User, qtbot: QtBot,
                                                                  db: Db) -> None:
    view, project_id, (first, _second) = await open_studio(ctx_for, user, qtbot)
    assert view.deployed_label.text() == "Not deployed to a terminal yet."
    # The agent deploys v1 (what a finished deploy job reports), while v2 is open in the editor.
    db.admin.execute("insert into jobs (user_id, job_type, payload, ea_project_id) values (%s, 'deploy', %s, %s)",
                     (user.id, f'{{"version_id": "{first}"}}', project_id))
    db.admin.execute("update jobs set status = 'completed', result = %s where job_type = 'deploy'",
                     (f'{{"deployed_version_id": "{first}"}}',))
    await eventually(lambda: view.deployed_label.text().startswith("Deployed to the terminal: v1 ▲"),
                     what="the deployed version")
    shown = [view.versions.index(r, 0).data() for r in range(view.versions.rowCount())]
    assert shown == ["● v2", "v1 ▲"]


async def test_stop_is_offered_only_while_the_ea_runs_and_a_jobs_log_is_in_words(
        ctx_for: MakeContext, db: Db, user: User, qtbot: QtBot) -> None:
    view, project_id, (_v1, v2) = await open_studio(ctx_for, user, qtbot)
    stop = view.job_buttons[JobType.STOP]
    assert not stop.isEnabled()  # nothing runs: nothing to stop
    data = view.ctx.services.data
    payload = {"version_id": v2, "version_number": 2, "project_id": project_id, "project": "MA cross",
               "symbol": "EURUSD", "timeframe": "H1"}
    run = await data.enqueue_job(JobRequest(JobType.RUN, payload, ea_project_id=project_id))
    await eventually(lambda: stop.isEnabled(), what="Stop offered once a run is asked for")
    db.admin.execute("update jobs set status = 'completed', completed_at = now(), result = %s where id = %s",
                     (json.dumps({"attached": True, "chart": "EURUSD H1", "terminal_id": run.id}), run.id))
    await eventually(lambda: view.panel.jobs.row_of(run.id) >= 0
                     and view.panel.jobs.row_at(view.panel.jobs.row_of(run.id)).status == "completed",  # type: ignore[union-attr]
                     what="the run done")
    view.panel.jobs_view.selectRow(view.panel.jobs.row_of(run.id))
    log = view.panel.output.toPlainText()
    assert log.splitlines()[:3] == ["Run — Done", "EA: MA cross, version 2", "Market: EURUSD H1"], log
    assert "Attached: yes" in log and "Chart: EURUSD H1" in log
    assert "{" not in log and not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", log), log  # no raw JSON, no ids

    await data.enqueue_job(JobRequest(JobType.STOP, payload, ea_project_id=project_id))
    await eventually(lambda: not stop.isEnabled(), what="Stop withdrawn once asked")

"""EA Studio: compile on the agent, follow the job live, and jump from a compile error to its line."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from tnm_desktop.domain import JobType, NewVersion, VersionOrigin
from tnm_desktop.ea.port import Diagnostic, Severity
from tnm_desktop.ea.templates import get_template, render_template
from tnm_desktop.gui.pages.ea_studio import EaStudioView
from tnm_desktop.gui.pages.ea_studio_models import DiagnosticModel, VersionTableModel
from tnm_desktop.gui.widgets import theme
from tnm_desktop.gui.widgets.job_table import JobTableModel

from tests.gui.conftest import MakeContext
from tests.gui.ea_agent_fixtures import agent_port, app_theme, claim, save_screenshot, settle
from tests.pg import Db, User
from tests.waiting import eventually

TYPO = "InpComent"  # the trader's typo: the input is InpComment


def broken_ma_cross() -> tuple[str, int, int]:
    """The moving-average template with one typo, and the 1-based line and column of the typo."""
    source = render_template(get_template("ma_cross"), {})
    lines = source.splitlines()
    number = next(i for i, line in enumerate(lines) if "InpComment" in line and "input" not in line)
    lines[number] = lines[number].replace("InpComment", TYPO, 1)
    return "\n".join(lines) + "\n", number + 1, lines[number].index(TYPO) + 1


async def test_compile_shows_progress_then_the_error_and_clicking_it_moves_the_cursor_there(
        ctx_for: MakeContext, db: Db, user: User, qtbot: QtBot, qtmodeltester: ModelTester, tmp_path: Path) -> None:
    agent = db.create_agent(user)
    source, line, column = broken_ma_cross()
    ctx = await ctx_for(user)
    data = ctx.services.data
    generated = NewVersion(render_template(get_template("ma_cross"), {}), VersionOrigin.GENERATED,
                           "Generated from the template", get_template("ma_cross").defaults())
    project, _first = await data.create_ea_project("MA cross EURUSD", generated, symbol="EURUSD", timeframe="H1")
    version = await data.save_ea_version(project.id, NewVersion(source, note="Order comment from the input"))
    await data.create_ea_project("Breakout GBPUSD", NewVersion(render_template(get_template("atr_breakout"), {})),
                                 symbol="GBPUSD", timeframe="M15")
    view = EaStudioView(ctx)
    qtbot.addWidget(view)
    view.resize(1440, 900)
    view.show()
    await eventually(lambda: view.projects.rowCount() == 2 and view.version is not None, what="the projects")
    view.projects_view.setCurrentIndex(view.projects.index(view.projects.row_of(project.id)))
    await eventually(lambda: view.version is not None and view.version.id == version.id
                     and view.panel.agent is not None, what="the version and agent")
    assert view.versions.rowCount() == 2
    compile_button = view.job_buttons[JobType.COMPILE]
    assert compile_button.isEnabled() and not view.job_buttons[JobType.RUN].isEnabled()  # nothing built yet

    compile_button.click()
    await eventually(lambda: view.panel.jobs.rowCount() == 1, what="the compile job listed")
    job = db.admin.execute("select id::text as id, payload, target_agent_id::text as target, ea_project_id::text "
                           "as project, status from jobs").fetchone()
    assert job is not None
    assert job["payload"]["version_id"] == version.id and job["target"] == agent.id
    assert job["payload"]["project"] == "MA cross EURUSD"
    assert job["project"] == project.id and job["status"] == "pending"

    def compile_state() -> str:
        return str(view.versions.data(view.versions.index(0, VersionTableModel.COL_COMPILE)))

    def job_status() -> str:
        return str(view.panel.jobs.data(view.panel.jobs.index(0, JobTableModel.COL_STATUS)))

    await eventually(lambda: compile_state() == "Queued", what="queued")

    # The agent claims the job and reports the compiler's result through the real SQL.
    port, creds = await agent_port(db, agent)
    claimed = await claim(port, creds)
    await eventually(lambda: compile_state() == "Compiling…" and job_status() == "Running", what="compiling")
    error = Diagnostic(f"MQL5\\Experts\\TNM\\{project.name}.mq5", line, column, 256, Severity.ERROR,
                       f"'{TYPO}' - undeclared identifier")
    warning = Diagnostic(error.file, 60, 10, 43, Severity.WARNING, "possible loss of data due to type conversion")
    log = "\n".join([f"{error.file}({line},{column}) : error 256: '{TYPO}' - undeclared identifier",
                     f"{warning.file}(60,10) : warning 43: possible loss of data due to type conversion",
                     "Result: 1 errors, 1 warnings, 412 msec elapsed"])
    await port.complete_job(creds, claimed, {"success": False, "errors": 1, "warnings": 1, "log": log,
                                             "diagnostics": [warning.to_json(), error.to_json()]})
    await port.close()

    await eventually(lambda: view.panel.problems.rowCount() == 2, what="the problems")
    await eventually(lambda: compile_state() == "Errors", what="the failed compile in the version list")
    assert job_status() == "Failed"
    assert view.panel.tabText(view.panel.indexOf(view.panel.problems_view)) == "Problems (1)"
    assert view.panel.currentWidget() is view.panel.problems_view
    first = view.panel.problems.item_at(0)
    assert first is not None and (first.severity, first.line, first.column) == ("error", line, column)
    assert {(m.line, m.severity) for m in view.editor.marks} == {(line, "error"), (60, "warning")}

    view.editor.go_to(1, 1)
    table = view.panel.problems_view
    cell = table.visualRect(view.panel.problems.index(0, DiagnosticModel.COL_MESSAGE))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell.center())
    assert view.editor.cursor_line_column() == (line, column)
    assert view.editor.textCursor().block().text()[column - 1:].startswith(TYPO)
    assert view.editor.hasFocus()

    view.panel.jobs_view.selectRow(0)
    assert "undeclared identifier" in view.panel.output.toPlainText()
    assert "Result: 1 errors, 1 warnings" in view.panel.output.toPlainText()

    qtmodeltester.check(view.panel.problems)
    qtmodeltester.check(view.panel.jobs)
    with app_theme(theme.Theme.LIGHT):
        view.panel.setCurrentWidget(view.panel.problems_view)
        await save_screenshot(view, "ea_studio.png", tmp_path)
    await settle(ctx)

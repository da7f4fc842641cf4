"""Every page at 1280 × 800 and at 1920 × 1080: the page fits the window, and no table has a
column cut off at its right edge or a header cut short. The pages are saved as screenshots
(``TNM_SCREENSHOTS`` keeps them; see tests/gui/test_screenshots.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QTableView
from pytestqt.qtbot import QtBot
from tnm_desktop.data.port import LiveState
from tnm_desktop.domain import NewVersion
from tnm_desktop.gui.shell.mainwindow import MainWindow
from tnm_desktop.gui.shell.session import GuiSession
from tnm_desktop.gui.widgets.bridge import MessageBridge
from tnm_desktop.gui.widgets.tables import header_width
from tnm_desktop.services import Services

from tests.gui.conftest import close_at_test_end, local_adapter, local_profile
from tests.gui.test_screenshots import WEBHOOK_BASE, save, seed_desk, settle, shots_dir
from tests.pg import Db, User
from tests.waiting import eventually

PAGES = ("strategies", "signals", "ea_studio", "accounts", "agent", "settings")
SOURCE = "input int InpFast = 12;\nint OnInit() { return(INIT_SUCCEEDED); }\nvoid OnTick() {}\n"


def cut_off(table: QTableView) -> list[str]:
    """What is wrong with a table's columns at its present width."""
    header = table.horizontalHeader()
    problems = []
    if header.length() > table.viewport().width():
        problems.append(f"columns {header.length()} px wide in {table.viewport().width()} px")
    for column in range(header.count()):
        if not header.isSectionHidden(column) and header.sectionSize(column) < header_width(table, column) - 8:
            text = table.model().headerData(column, header.orientation())
            problems.append(f"header {text!r} cut short ({header.sectionSize(column)} px)")
    return problems


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)], ids=["1280x800", "1920x1080"])
async def test_every_page_fits_the_window_with_no_column_cut_off(request: pytest.FixtureRequest, qtbot: QtBot,
                                                                 db: Db, user: User, tmp_path: Path,
                                                                 size: tuple[int, int]) -> None:
    agent = db.create_agent(user, "Trading PC")
    seed_desk(db, user, agent)
    data = local_adapter(db)
    await data.sign_in(user.email, user.password)
    # A long project name and a version that is not compiled: the EA Studio header at its widest.
    project, _ = await data.create_ea_project("Moving-average cross with a London session filter",
                                              NewVersion(SOURCE), symbol="EURUSD", timeframe="H1")
    await data.save_ea_version(project.id, NewVersion(SOURCE + "// v2\n", note="tuned periods for the session"))
    settings = QSettings(str(tmp_path / "sizes.ini"), QSettings.Format.IniFormat)
    session = GuiSession(Services(local_profile(tmp_path / "ws", WEBHOOK_BASE), data), MessageBridge(), settings)
    close_at_test_end(request.node, session.close)
    await session.start_live()
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    await eventually(lambda: session.ctx.live.state is LiveState.LIVE and not window.building, what="ready")
    width, height = size
    for key in PAGES:
        page = window.show_page(key)
        await settle()
        tables = [t for t in page.findChildren(QTableView) if t.isVisible()]
        await eventually(lambda ts=tables: not any(cut_off(t) for t in ts), within=5,  # type: ignore[misc]
                         what=f"{key}: the columns fitted")
        assert (window.width(), window.height()) == size, f"{key} needs a wider window than {width} px"
        save(window, shots_dir(tmp_path) / f"page-{key}-{width}x{height}.png")

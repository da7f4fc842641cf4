"""The signed-in session's wiring: one live subscription dispatched into the hub."""

from __future__ import annotations

from tnm_desktop.data.port import Change
from tnm_desktop.domain import Signal

from tests.data.helpers import insert_signal, strategy_for
from tests.gui.conftest import MakeContext
from tests.pg import Db, User
from tests.waiting import eventually


async def test_a_signal_inserted_elsewhere_reaches_the_hub(ctx_for: MakeContext, db: Db, user: User) -> None:
    ctx = await ctx_for(user)
    strategy = await strategy_for(ctx.services.data)
    seen: list[Change] = []
    ctx.live.signal_changed.connect(seen.append)
    signal_id = insert_signal(db, user, strategy.id, symbol="GBPUSD")
    await eventually(lambda: any(c.id == signal_id for c in seen), what="the signal in the hub")
    change = next(c for c in seen if c.id == signal_id)
    assert isinstance(change.row, Signal) and change.row.symbol == "GBPUSD"

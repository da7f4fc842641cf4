"""Every job type end to end: the real database, the agent, the MT5 simulator, the EA toolchain."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from tnm_desktop.agent.sizing import Contract, size_by_risk
from tnm_desktop.ea.templates import get_template, render_template
from tnm_desktop.terminal import mt5api as mt5

from tests.agent.rig import TradeRig, make_rig
from tests.must import must
from tests.pg import Db


@pytest_asyncio.fixture
async def rig(db: Db) -> AsyncIterator[TradeRig]:
    made = await make_rig(db)
    await made.start()
    yield made
    await made.stop()
    await made.adapter.close()


async def test_buy_sized_by_risk_with_stops_fills_and_executes_the_signal(rig: TradeRig) -> None:
    job_id, signal_id = rig.trade("buy", sizing={"mode": "risk", "risk_pct": 1.0}, sl={"pips": 25}, tp={"pips": 50})
    job = await rig.final(job_id)
    assert job["status"] == "completed", job["error_message"]
    (deal,) = rig.opening_deals(job_id)
    info = must(rig.sim.symbol_info("EURUSD.m"))
    balance = must(rig.sim.account_info()).balance
    expected = size_by_risk(Contract("EURUSD.m", info.digits, info.point, info.trade_tick_size,
                                     info.trade_tick_value_loss, info.volume_min, info.volume_step, info.volume_max),
                            balance=balance, risk_pct=1.0, distance=25 * 0.0001).volume
    assert deal.volume == pytest.approx(expected)
    assert deal.magic == rig.magic
    position = must(rig.sim.positions_get(ticket=deal.position_id))[0]
    assert position.sl == pytest.approx(deal.price - 0.0025, abs=1e-5)
    assert position.tp == pytest.approx(deal.price + 0.0050, abs=1e-5)
    signal = rig.signal(signal_id)
    assert signal["status"] == "executed"
    assert float(signal["fill_price"]) == pytest.approx(deal.price)
    assert signal["broker_order_id"] == str(deal.order)
    assert job["intent"]["token"] == f"tnm-{job_id.replace('-', '')[:16]}" and job["sent_at"] is not None


async def test_sell_then_partial_close_then_close_all(rig: TradeRig) -> None:
    opened, _ = rig.trade("sell", "GBPUSD", sizing={"mode": "lots", "lots": 0.4})
    assert (await rig.final(opened))["status"] == "completed"
    half, _ = rig.trade("close", "GBPUSD", close={"side": "short", "fraction": 0.5})
    result = (await rig.final(half))["result"]
    assert [c["volume"] for c in result["closed"]] == [0.2]
    (position,) = must(rig.sim.positions_get(symbol="GBPUSD.m"))
    assert position.volume == pytest.approx(0.2)
    rest, signal = rig.trade("close", "GBPUSD", close={"side": "all"})
    assert (await rig.final(rest))["status"] == "completed"
    assert rig.sim.positions_get(symbol="GBPUSD.m") == ()
    assert rig.signal(signal)["status"] == "executed"


async def test_close_with_nothing_open_says_so(rig: TradeRig) -> None:
    job_id, signal_id = rig.trade("close", "USDJPY", close={"side": "long"})
    job = await rig.final(job_id)
    assert job["status"] == "completed"
    assert rig.signal(signal_id)["error_message"] == "Nothing to close: no open long USDJPY.m position."


async def test_close_position_by_ticket_from_the_gui(rig: TradeRig) -> None:
    opened, _ = rig.trade("buy", "XAUUSD", sizing={"mode": "lots", "lots": 0.05})
    ticket = (await rig.final(opened))["result"]["position"]
    job = rig.db.call_as(rig.user, "insert into jobs (user_id, job_type, payload) values (%s, 'close_position', %s) "
                                   "returning id::text as id", (rig.user.id, json.dumps({"ticket": ticket})))
    done = await rig.final(job[0]["id"])
    assert done["status"] == "completed" and done["result"]["closed"][0]["position"] == ticket
    assert rig.sim.positions_get(ticket=ticket) == ()


async def test_queries_and_sync(rig: TradeRig) -> None:
    opened, _ = rig.trade("buy", "USDJPY", sizing={"mode": "lots", "lots": 0.1})
    await rig.final(opened)
    ids: dict[str, str] = {}
    for job_type, payload in (("get_account", {}), ("get_positions", {}),
                              ("get_candles", {"symbol": "EURUSD.m", "timeframe": "M5", "count": 30}),
                              ("sync_account", {})):
        rows = rig.db.call_as(rig.user, "insert into jobs (user_id, job_type, payload) values (%s, %s, %s) "
                                        "returning id::text as id", (rig.user.id, job_type, json.dumps(payload)))
        ids[job_type] = rows[0]["id"]
    results = {k: (await rig.final(v))["result"] for k, v in ids.items()}
    assert results["get_account"]["login"] == must(rig.sim.account_info()).login
    assert [p["symbol"] for p in results["get_positions"]["positions"]] == ["USDJPY.m"]
    assert len(results["get_candles"]["candles"]) == 30
    log = rig.db.admin.execute("select status, trades_synced, sync_type from sync_logs where id = %s",
                               (results["sync_account"]["sync_log_id"],)).fetchone()
    assert log == {"status": "success", "trades_synced": 1, "sync_type": "manual"}
    account = rig.db.admin.execute("select connection_status, balance, broker_server_time_offset "
                                   "from trading_accounts where user_id = %s", (rig.user.id,)).fetchone()
    assert account is not None and account["connection_status"] == "connected"
    assert float(account["balance"]) == pytest.approx(must(rig.sim.account_info()).balance)


async def test_ea_lifecycle_on_the_simulated_toolchain(rig: TradeRig) -> None:
    template = get_template("ma_cross")
    source = render_template(template, template.defaults())
    project = rig.db.call_as(rig.user, "select * from create_ea_project('MA cross', %s)", (source,))[0]
    version = str(project["current_version_id"])
    broken = source.replace("OnTick()\n{", "OnTick()\n{\n   undeclared_thing = 1;", 1)
    bad = rig.db.call_as(rig.user, "select * from save_ea_version(%s, %s)", (project["id"], broken))[0]
    ids: dict[str, str] = {}
    for job_type, payload in (("compile", {"version_id": version, "project": "MA cross"}),
                              ("compile", {"version_id": str(bad["id"]), "project": "MA cross bad"}),
                              ("deploy", {"version_id": version, "project": "MA cross"}),
                              ("run", {"version_id": version, "project": "MA cross", "symbol": "EURUSD.m",
                                       "timeframe": "H1"}),
                              ("stop", {"project": "MA cross"}),
                              ("test", {"version_id": version, "project": "MA cross", "symbol": "EURUSD.m",
                                        "timeframe": "H1"})):
        rows = rig.db.call_as(rig.user, "insert into jobs (user_id, job_type, payload) values (%s, %s, %s) "
                                        "returning id::text as id", (rig.user.id, job_type, json.dumps(payload)))
        ids[f"{job_type}{len(ids)}"] = rows[0]["id"]
    results = {k: await rig.final(v) for k, v in ids.items()}
    assert all(r["status"] == "completed" for r in results.values()), {k: r["error_message"] for k, r in results.items()}
    good, bad_result = results["compile0"]["result"], results["compile1"]["result"]
    assert good["success"] is True and good["simulated"] is True
    assert bad_result["success"] is False
    diagnostic = bad_result["diagnostics"][0]
    assert "undeclared_thing" in diagnostic["message"] and diagnostic["line"] > 1
    versions = {str(v["id"]): v for v in rig.db.admin.execute(
        "select id, compile_status, compile_log from ea_versions").fetchall()}
    assert versions[version]["compile_status"] == "success"
    assert versions[str(bad["id"])]["compile_status"] == "failed"
    assert "Simulated" in results["test5"]["result"]["note"]
    assert results["test5"]["result"]["net_profit"] is None  # nothing invented


async def test_refusals_carry_their_reasons_and_send_nothing(rig: TradeRig) -> None:
    cases = [
        (rig.trade("buy", "XAUUSD", allowed_pairs=["EURUSD"]), "XAUUSD is not among this strategy's allowed pairs."),
        (rig.trade("buy", "NOPE"), None),
        (rig.trade("buy", sizing={"mode": "risk", "risk_pct": 0.01}, sl={"pips": 500}), None),
    ]
    for (job_id, signal_id), reason in cases:
        job = await rig.final(job_id)
        assert job["status"] == "failed"
        signal = rig.signal(signal_id)
        assert signal["status"] == "failed"
        if reason:
            assert signal["error_message"] == reason
        assert rig.opening_deals(job_id) == []
    assert "NOPE.m" in rig.signal(cases[1][0][1])["error_message"]
    assert "smallest order" in rig.signal(cases[2][0][1])["error_message"]
    assert mt5.TRADE_RETCODE_DONE == 10009


async def test_alerts_too_old_are_refused_in_arrival_order_and_the_fresh_ones_traded(rig: TradeRig) -> None:
    from datetime import UTC, datetime, timedelta

    assert rig.agent is not None
    rig.agent.pause()  # a backlog: everything below is waiting when the agent comes back
    now = datetime.now(UTC)
    stale = [rig.trade("buy", created_at=now - timedelta(minutes=10 - i)) for i in range(3)]
    fresh = rig.trade("buy")
    rig.agent.resume()
    assert (await rig.final(fresh[0]))["status"] == "completed"
    assert len(rig.opening_deals(fresh[0])) == 1
    refused = [rig.job(job_id) for job_id, _ in stale]
    assert [j["status"] for j in refused] == ["failed"] * 3
    assert sorted(refused, key=lambda j: j["completed_at"]) == refused  # in the order they arrived
    for (job_id, signal_id), age in zip(stale, (600, 540, 480), strict=True):
        reason = rig.signal(signal_id)["error_message"]
        told = re.fullmatch(r"Not executed: the alert was (\d+) s old when its turn came \(the limit is 120 s\), .*",
                            reason)
        assert told is not None, reason
        assert age <= int(told[1]) < age + 60  # as old as it was when the agent reached it
        assert rig.opening_deals(job_id) == []


async def test_the_agent_publishes_the_brokers_symbols_for_ingestion(rig: TradeRig) -> None:
    rows = rig.db.admin.execute("select symbol from broker_symbols where broker_connection_id = %s order by symbol",
                                (rig.broker_id,)).fetchall()
    names = [r["symbol"] for r in rows]
    assert "EURUSD.m" in names and "XAUUSD.m" in names
    assert len(names) == len(must(rig.sim.symbols_get()))


async def test_ea_jobs_act_on_the_version_they_name_and_the_project_shows_the_deployed_one(rig: TradeRig) -> None:
    template = get_template("ma_cross")
    v1_source = render_template(template, template.defaults())
    project = rig.db.call_as(rig.user, "select * from create_ea_project('Trend EA', %s)", (v1_source,))[0]
    v1 = str(project["current_version_id"])
    versions = [v1] + [str(rig.db.call_as(rig.user, "select * from save_ea_version(%s, %s)",
                                          (project["id"], v1_source.replace("MA cross", f"MA cross v{n}")))[0]["id"])
                       for n in (2, 3)]
    rig.workdir.mkdir(parents=True, exist_ok=True)

    def job(job_type: str, version: str | None, **extra: str) -> str:
        payload = {"project": "Trend EA", "project_id": str(project["id"]), **extra}
        if version is not None:
            payload["version_id"] = version
        rows = rig.db.call_as(rig.user, "insert into jobs (user_id, job_type, payload, ea_project_id) "
                                        "values (%s, %s, %s, %s) returning id::text as id",
                              (rig.user.id, job_type, json.dumps(payload), project["id"]))
        return str(rows[0]["id"])

    def built_source() -> str:
        return (rig.workdir / "build" / "Trend_EA" / "Trend_EA.mq5").read_bytes().decode("utf-16")

    def project_row() -> dict[str, object]:
        row = rig.db.admin.execute("select deployed_version_id::text as v, deployed_at from ea_projects "
                                   "where id = %s", (project["id"],)).fetchone()
        assert row is not None
        return row

    compiled = await rig.final(job("compile", versions[0]))
    assert compiled["status"] == "completed" and compiled["result"]["version_number"] == 1
    # Deploying version 2 while version 1 is built compiles version 2 first.
    deployed = await rig.final(job("deploy", versions[1]))
    assert deployed["status"] == "completed", deployed["error_message"]
    assert deployed["result"]["deployed_version_id"] == versions[1] and deployed["result"]["version_number"] == 2
    assert deployed["result"]["log"].startswith("Compiled version 2 first")
    assert project_row()["v"] == versions[1] and project_row()["deployed_at"] is not None
    assert "MA cross v2" in built_source()
    # Running version 3 deploys version 3 first; the job history and the terminal agree.
    ran = await rig.final(job("run", versions[2], symbol="EURUSD.m", timeframe="H1"))
    assert ran["status"] == "completed", ran["error_message"]
    assert ran["result"]["steps"] == ["Compiled version 3 first (the last build was of another version).",
                                      "Deployed version 3 first (the terminal held another version)."]
    assert project_row()["v"] == versions[2] and "MA cross v3" in built_source()
    # Testing the deployed version again does nothing more than test it.
    tested = await rig.final(job("test", versions[2], symbol="EURUSD.m", timeframe="H1"))
    assert tested["status"] == "completed" and tested["result"]["steps"] == []
    # A job without a version, or with another project's, is refused with a reason.
    other = rig.db.call_as(rig.user, "select * from create_ea_project('Other', %s)", (v1_source,))[0]
    refused = [await rig.final(job("deploy", None)), await rig.final(job("deploy", str(other["current_version_id"])))]
    assert [r["error_message"] for r in refused] == ["The job names no version of the EA.",
                                                     "The version named is not one of this project's."]
    assert project_row()["v"] == versions[2]

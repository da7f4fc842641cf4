"""The exact HTTP requests the Supabase adapter makes: method, path, query, headers and body."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
from tnm_desktop.domain import BrokerConnectionDraft, SignalCursor, SignalFilter, SignalStatus

from tests.data.helpers import insert_signal, strategy_for
from tests.data.supabase.support import MakeAdapter, signed_in
from tests.data.supabase_backend import SupabaseProject
from tests.pg import Db


async def test_sign_in_posts_the_password_grant_with_the_anon_key(db: Db, project: SupabaseProject,
                                                                    make_adapter: MakeAdapter) -> None:
    user = db.create_user()
    adapter = await make_adapter()
    session = await adapter.sign_in(f"  {user.email} ", user.password)

    (request,) = project.http.of("POST", "/auth/v1/token")
    assert request.query == [("grant_type", "password")]
    assert request.headers["apikey"] == project.http.anon_key
    assert request.headers["authorization"] == f"Bearer {project.http.anon_key}"
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["x-supabase-api-version"] == "2024-01-01"
    assert request.body == {"email": user.email, "password": user.password, "data": {},
                            "gotrue_meta_security": {"captcha_token": None}}
    assert request.status == 200
    assert (session.user_id, session.email, session.backend) == (user.id, user.email, "supabase")


async def test_a_table_read_is_a_get_with_the_users_token(db: Db, project: SupabaseProject,
                                                          make_adapter: MakeAdapter) -> None:
    user = db.create_user()
    adapter = await signed_in(make_adapter, user)
    await adapter.list_strategies()

    (request,) = project.http.of("GET", "/rest/v1/tv_strategies")
    assert request.query == [("select", "*"), ("order", "name.asc")]
    assert request.headers["apikey"] == project.http.anon_key
    token = request.headers["authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["role"]) == (user.id, "authenticated")
    assert request.headers["accept-profile"] == "public"
    assert request.body is None and request.status == 200


async def test_an_insert_posts_the_row_and_asks_for_it_back(db: Db, project: SupabaseProject,
                                                             make_adapter: MakeAdapter) -> None:
    user = db.create_user()
    adapter = await signed_in(make_adapter, user)
    created = await adapter.create_broker_connection(BrokerConnectionDraft(
        name="IC Markets", symbol_suffix=".m", symbol_map={"XAUUSD": "GOLD"}, login=5001))

    (request,) = project.http.of("POST", "/rest/v1/broker_connections")
    assert request.query == []
    assert request.headers["prefer"] == "return=representation"
    assert request.headers["accept"] == "application/vnd.pgrst.object+json"
    assert request.headers["content-profile"] == "public"
    assert request.body == {"name": "IC Markets", "agent_id": None, "broker_name": "", "server": "", "login": 5001,
                            "account_type": "demo", "symbol_suffix": ".m", "symbol_map": {"XAUUSD": "GOLD"},
                            "is_active": True, "pip_sizes": {}, "user_id": user.id}
    assert request.status == 201
    assert created.symbol_map == {"XAUUSD": "GOLD"} and created.login == 5001


async def test_an_update_patches_one_row_by_id(db: Db, project: SupabaseProject, make_adapter: MakeAdapter) -> None:
    adapter = await signed_in(make_adapter, db.create_user())
    strategy = await strategy_for(adapter)
    await adapter.set_strategy_enabled(strategy.id, False)

    (request,) = project.http.of("PATCH", "/rest/v1/tv_strategies")
    assert request.query == [("id", f"eq.{strategy.id}")]
    assert request.body == {"is_enabled": False}
    assert request.headers["prefer"] == "return=representation" and request.status == 200


async def test_the_signal_log_is_an_rpc_with_named_arguments(db: Db, project: SupabaseProject,
                                                             make_adapter: MakeAdapter) -> None:
    user = db.create_user()
    adapter = await signed_in(make_adapter, user)
    strategy = await strategy_for(adapter)
    first = insert_signal(db, user, strategy.id, received_at=datetime(2026, 11, 20, 9, tzinfo=UTC))
    insert_signal(db, user, strategy.id, received_at=datetime(2026, 11, 20, 8, tzinfo=UTC))
    cursor = SignalCursor(datetime(2026, 11, 20, 9, tzinfo=UTC), first)
    page = await adapter.list_signals(SignalFilter(strategy_id=strategy.id, status=SignalStatus.PENDING),
                                      after=cursor, limit=50)

    (request,) = project.http.of("POST", "/rest/v1/rpc/signal_page")
    assert request.query == [("select", "id,strategy_id,symbol,action,price,status,fill_price,broker_order_id,"
                                        "error_message,job_id,received_at,resolved_at")]  # no raw payloads
    assert request.body == {
        "p_strategy_id": strategy.id, "p_status": "pending", "p_symbol": None, "p_since": None, "p_until": None,
        "p_after_received_at": "2026-11-20T09:00:00+00:00", "p_after_id": first, "p_limit": 50}
    assert request.status == 200
    assert [s.received_at.hour for s in page] == [8]


async def test_rows_by_id_use_an_in_filter(db: Db, project: SupabaseProject, make_adapter: MakeAdapter) -> None:
    user = db.create_user()
    adapter = await signed_in(make_adapter, user)
    strategy = await strategy_for(adapter)
    ids = [insert_signal(db, user, strategy.id) for _ in range(3)]
    assert sorted(s.id for s in await adapter.get_signals(ids)) == sorted(ids)

    (request,) = project.http.of("GET", "/rest/v1/tv_signals")
    assert request.query == [("select", "*"), ("id", f"in.({','.join(ids)})")]


async def test_an_agent_call_carries_the_pairing_key_in_the_body_only(db: Db, project: SupabaseProject,
                                                                       make_adapter: MakeAdapter) -> None:
    from tnm_desktop.domain import AgentCredentials

    user = db.create_user()
    agent = db.create_agent(user)
    adapter = await signed_in(make_adapter, user)
    assert await adapter.claim_job(AgentCredentials(agent.id, agent.key), lease_seconds=30) is None

    (request,) = project.http.of("POST", "/rest/v1/rpc/claim_next_job_with_limits")
    assert request.body == {"p_agent_id": agent.id, "p_pairing_key": agent.key, "p_lease_seconds": 30}
    assert agent.key not in str(request.query) and all(agent.key not in v for v in request.headers.values())


async def test_completing_and_claiming_is_one_rpc_with_the_key_in_the_body(db: Db, project: SupabaseProject,
                                                                         make_adapter: MakeAdapter) -> None:
    from tnm_desktop.domain import AgentCredentials

    user = db.create_user()
    agent = db.create_agent(user)
    db.admin.execute("insert into jobs (user_id, job_type) select %s, 'get_account' from generate_series(1, 2)",
                     (user.id,))
    adapter = await signed_in(make_adapter, user)
    creds = AgentCredentials(agent.id, agent.key)
    claimed = await adapter.claim_job(creds)
    assert claimed is not None
    following = await adapter.complete_and_claim(creds, claimed, {"ok": True}, lease_seconds=45)
    assert following is not None and following.job.id != claimed.job.id

    (request,) = project.http.of("POST", "/rest/v1/rpc/complete_and_claim_next_with_limits")
    assert request.body == {"p_agent_id": agent.id, "p_pairing_key": agent.key, "p_job_id": claimed.job.id,
                            "p_lease_token": claimed.lease_token, "p_result": {"ok": True}, "p_lease_seconds": 45}
    assert agent.key not in str(request.query) and all(agent.key not in v for v in request.headers.values())

"""Supabase failures in the app's words: not allowed, offline, refused keys."""

from __future__ import annotations

import httpx
import pytest
from tnm_desktop.data.supabase import SupabaseAdapter
from tnm_desktop.domain import BrokerConnectionDraft
from tnm_desktop.errors import TransientError, UserError

from tests.data.supabase.support import MakeAdapter, signed_in
from tests.data.supabase_backend import SupabaseProject
from tests.pg import Db


async def test_a_row_refused_by_rls_reads_not_allowed(db: Db, project: SupabaseProject,
                                                      make_adapter: MakeAdapter) -> None:
    adapter = await signed_in(make_adapter, db.create_user())
    # A project whose policy refuses new broker connections (a plan limit, say): RLS says 42501.
    db.admin.execute("create policy no_new_brokers on public.broker_connections as restrictive "
                     "for insert to authenticated with check (false)")

    with pytest.raises(UserError) as raised:
        await adapter.create_broker_connection(BrokerConnectionDraft(name="Blocked"))

    assert (raised.value.code, raised.value.message) == ("not_allowed", "You are not allowed to do that.")
    (request,) = project.http.of("POST", "/rest/v1/broker_connections")
    assert request.status == 403  # PostgREST: 42501 for a signed-in user
    assert isinstance(raised.value.__cause__, Exception) and "row-level security" in str(raised.value.__cause__)
    assert await adapter.list_broker_connections() == []


async def test_a_constraint_reads_the_same_as_on_the_local_adapter(db: Db, project: SupabaseProject,
                                                                   make_adapter: MakeAdapter) -> None:
    adapter = await signed_in(make_adapter, db.create_user())
    await adapter.create_broker_connection(BrokerConnectionDraft(name="IC Markets"))
    with pytest.raises(UserError) as raised:
        await adapter.create_broker_connection(BrokerConnectionDraft(name="x" * 101))
    assert raised.value.code == "invalid"
    assert [r.status for r in project.http.of("POST", "/rest/v1/broker_connections")] == [201, 400]


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError])
async def test_no_network_is_an_offline_transient_error(db: Db, project: SupabaseProject, make_adapter: MakeAdapter,
                                                        failure: type[httpx.TransportError]) -> None:
    adapter = await signed_in(make_adapter, db.create_user())
    project.http.fail_next(error=failure)

    with pytest.raises(TransientError) as raised:
        await adapter.list_strategies()

    assert raised.value.code == "offline" and "cannot be reached" in raised.value.message
    assert isinstance(raised.value.__cause__, failure)
    assert await adapter.list_strategies() == []  # nothing is broken once the network is back


async def test_a_timeout_is_transient_too(db: Db, project: SupabaseProject, make_adapter: MakeAdapter) -> None:
    adapter = await signed_in(make_adapter, db.create_user())
    project.http.fail_next(error=httpx.ReadTimeout)
    with pytest.raises(TransientError) as raised:
        await adapter.list_agents()
    assert raised.value.code == "timeout"


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_a_gateway_outage_is_offline(db: Db, project: SupabaseProject, make_adapter: MakeAdapter,
                                           status: int) -> None:
    adapter = await signed_in(make_adapter, db.create_user())
    project.http.answer_next(status, "<html><body>upstream unavailable</body></html>")
    with pytest.raises(TransientError) as raised:
        await adapter.get_settings()
    assert raised.value.code == "offline"


async def test_signing_in_offline_is_transient_and_ping_says_so(db: Db, project: SupabaseProject,
                                                                make_adapter: MakeAdapter) -> None:
    user = db.create_user()
    adapter = await make_adapter()
    project.http.offline = True
    with pytest.raises(TransientError) as signing_in:
        await adapter.sign_in(user.email, user.password)
    assert signing_in.value.code == "offline" and adapter.session is None
    with pytest.raises(TransientError):
        await adapter.ping()
    project.http.offline = False
    await adapter.ping()
    assert (await adapter.sign_in(user.email, user.password)).user_id == user.id


async def test_a_service_role_key_is_refused_with_the_reason(project: SupabaseProject) -> None:
    with pytest.raises(UserError) as raised:
        SupabaseAdapter(project.url, project.http.signer.service_key, "session:x")
    assert raised.value.code == "service_key"
    assert "row-level security" in raised.value.message and "anon" in raised.value.message


async def test_a_secret_key_is_refused_and_a_publishable_key_works(db: Db, project: SupabaseProject,
                                                                   make_adapter: MakeAdapter) -> None:
    with pytest.raises(UserError) as secret:
        SupabaseAdapter(project.url, project.http.signer.secret_key, "session:x")
    assert secret.value.code == "service_key"
    with pytest.raises(UserError) as garbage:
        SupabaseAdapter(project.url, "not-a-key", "session:x")
    assert garbage.value.code == "invalid_key"

    user = db.create_user()
    adapter = await make_adapter(key=project.http.signer.publishable_key)
    await adapter.sign_in(user.email, user.password)
    assert (await adapter.get_profile()).id == user.id
    assert {r.headers["apikey"] for r in project.http.requests} == {project.http.signer.publishable_key}


async def test_the_fake_answers_a_wrong_api_key_like_the_gateway(project: SupabaseProject) -> None:
    async with project.http.client() as http:
        missing = await http.get(f"{project.url}/rest/v1/tv_strategies")
        wrong = await http.get(f"{project.url}/rest/v1/tv_strategies", headers={"apikey": "sb_publishable_nope"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert wrong.json()["message"] == "Invalid API key"


async def test_a_project_that_confirms_emails_says_what_to_do(project: SupabaseProject,
                                                              make_adapter: MakeAdapter) -> None:
    project.http.auth.autoconfirm = False
    adapter = await make_adapter()
    with pytest.raises(UserError) as raised:
        await adapter.sign_up("careful.trader@example.com", "a long passphrase")
    assert raised.value.code == "confirm_email" and "careful.trader@example.com" in raised.value.message
    assert adapter.session is None
    with pytest.raises(UserError) as unconfirmed:
        await adapter.sign_in("careful.trader@example.com", "a long passphrase")
    assert unconfirmed.value.code == "email_not_confirmed"


async def test_sign_up_checks_locally_before_asking_the_server(project: SupabaseProject,
                                                               make_adapter: MakeAdapter) -> None:
    adapter = await make_adapter()
    with pytest.raises(UserError) as short:
        await adapter.sign_up("new@example.com", "short12")
    with pytest.raises(UserError) as email:
        await adapter.sign_up("not an email", "a long passphrase")
    assert (short.value.code, email.value.code) == ("weak_password", "invalid_email")
    assert project.http.of("POST", "/auth/v1/signup") == []
    await adapter.sign_up("new@example.com", "a long passphrase")
    (request,) = project.http.of("POST", "/auth/v1/signup")
    assert request.body == {"email": "new@example.com", "password": "a long passphrase", "data": {},
                            "gotrue_meta_security": {"captcha_token": None}}

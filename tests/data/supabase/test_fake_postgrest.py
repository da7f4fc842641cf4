"""The fake PostgREST refuses and answers what the real one does (else the adapter tests prove little)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.data.supabase_backend import SupabaseProject
from tests.pg import Db, User


class Api:
    """Raw requests to the fake as one signed-in user."""

    def __init__(self, project: SupabaseProject, http: httpx.AsyncClient, token: str) -> None:
        self.url = f"{project.url}/rest/v1"
        self.http = http
        self.headers = {"apikey": project.http.anon_key, "authorization": f"Bearer {token}"}

    async def get(self, path: str, params: Any = None, **headers: str) -> httpx.Response:
        return await self.http.get(self.url + path, params=params, headers={**self.headers, **headers})

    async def send(self, method: str, path: str, body: Any, params: Any = None, **headers: str) -> httpx.Response:
        return await self.http.request(method, self.url + path, params=params, json=body,
                                       headers={**self.headers, **headers})


async def sign_in(project: SupabaseProject, http: httpx.AsyncClient, user: User) -> str:
    answer = await http.post(f"{project.url}/auth/v1/token", params={"grant_type": "password"},
                             headers={"apikey": project.http.anon_key},
                             json={"email": user.email, "password": user.password})
    return str(answer.json()["access_token"])


@pytest_asyncio.fixture
async def api(db: Db, project: SupabaseProject) -> AsyncIterator[tuple[Api, User]]:
    user = db.create_user()
    async with project.http.client() as http:
        yield Api(project, http, await sign_in(project, http, user)), user


async def broker(api: Api, user: User, name: str) -> dict[str, Any]:
    answer = await api.send("POST", "/broker_connections", {"user_id": user.id, "name": name},
                            prefer="return=representation")
    assert answer.status_code == 201, answer.text
    return dict(answer.json()[0])


@pytest.mark.parametrize(("params", "status", "code"), [
    ({"nope": "eq.1"}, 400, "42703"),                     # unknown column in a filter
    ({"select": "id,nope"}, 400, "42703"),                 # unknown column in select
    ({"order": "nope.desc"}, 400, "42703"),
    ({"name": "approx.x"}, 400, "PGRST100"),               # unknown operator
    ({"name": "in.a,b"}, 400, "PGRST100"),                 # in without parentheses
    ({"name": "is.maybe"}, 400, "PGRST100"),
    ({"limit": "many"}, 400, "PGRST100"),
    ({"order": "name.sideways"}, 400, "PGRST100"),
    ({"or": "name.eq.a"}, 400, "PGRST100"),                # a logic tree needs parentheses
    ({"select": "*,tv_strategies(*)"}, 400, "PGRST200"),  # embedding is outside the fake: loud
])
async def test_bad_queries_get_postgrests_400(api: tuple[Api, User], params: dict[str, str], status: int,
                                              code: str) -> None:
    client, _ = api
    answer = await client.get("/broker_connections", params)
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert set(answer.json()) == {"code", "details", "hint", "message"}


async def test_filters_order_window_and_count(api: tuple[Api, User]) -> None:
    client, user = api
    for name in ("Alpha", "Beta", "Gamma", "Delta"):
        await broker(client, user, name)
    answer = await client.get("/broker_connections", [("select", "name,label:name,login::text"),
                                                      ("or", "(name.eq.Alpha,name.ilike.*mm*,and(name.gte.D,name.lt.E))"),
                                                      ("name", "not.eq.Delta"), ("order", "name.desc"),
                                                      ("limit", "1"), ("offset", "1")], prefer="count=exact")
    assert answer.status_code == 200
    assert answer.json() == [{"name": "Alpha", "label": "Alpha", "login": None}]
    assert answer.headers["content-range"] == "1-1/2"
    listed = await client.get("/broker_connections", {"select": "name", "name": "in.(Beta,\"Gamma\")",
                                                      "login": "is.null", "order": "name"})
    assert [r["name"] for r in listed.json()] == ["Beta", "Gamma"]


async def test_singular_answers_and_their_406(api: tuple[Api, User]) -> None:
    client, user = api
    made = await broker(client, user, "One")
    single = "application/vnd.pgrst.object+json"
    found = await client.get("/broker_connections", {"id": f"eq.{made['id']}"}, accept=single)
    assert found.status_code == 200 and found.json()["name"] == "One"
    missing = await client.get("/broker_connections", {"name": "eq.none"}, accept=single)
    assert (missing.status_code, missing.json()["code"]) == (406, "PGRST116")
    assert missing.json()["details"] == "The result contains 0 rows"
    renamed = await client.send("PATCH", "/broker_connections", {"name": "Renamed"}, {"name": "like.*"},
                                accept=single, prefer="return=representation")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    await broker(client, user, "Two")
    refused = await client.send("PATCH", "/broker_connections", {"name": "Same"}, {"name": "like.*"},
                                accept=single, prefer="return=representation")
    assert refused.status_code == 406  # two rows: refused and rolled back, as PostgREST does
    names = await client.get("/broker_connections", {"select": "name", "order": "name"})
    assert [r["name"] for r in names.json()] == ["Renamed", "Two"]


async def test_mutations_answer_like_postgrest(api: tuple[Api, User]) -> None:
    client, user = api
    made = await broker(client, user, "Mine")
    minimal = await client.send("PATCH", "/broker_connections", {"server": "Demo"}, {"id": f"eq.{made['id']}"})
    assert minimal.status_code == 204 and minimal.content == b""
    unfiltered = await client.send("DELETE", "/broker_connections", None)
    assert (unfiltered.status_code, unfiltered.json()["code"]) == (400, "21000")
    unknown = await client.send("POST", "/broker_connections", {"user_id": user.id, "name": "X", "colour": "red"})
    assert (unknown.status_code, unknown.json()["code"]) == (400, "PGRST204")
    duplicate = await client.send("POST", "/tv_strategies", [
        {"user_id": user.id, "broker_connection_id": made["id"], "name": "S"},
        {"user_id": user.id, "broker_connection_id": made["id"], "name": "S"}])
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "23505")
    forged = await client.send("POST", "/tv_signals", {"strategy_id": made["id"], "user_id": user.id,
                                                       "raw_payload": {}})
    assert (forged.status_code, forged.json()["code"]) == (403, "42501")


async def test_rpc_arguments_and_shapes(api: tuple[Api, User]) -> None:
    client, _ = api
    scalar = await client.send("POST", "/rpc/changes_since", {"p_since": "2020-01-01T00:00:00Z"})
    assert scalar.status_code == 200 and isinstance(scalar.json(), list)
    unknown = await client.send("POST", "/rpc/changes_since", {"since": "2020-01-01T00:00:00Z"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "PGRST202")
    missing = await client.send("POST", "/rpc/changes_since", {})
    assert (missing.status_code, missing.json()["code"]) == (404, "PGRST202")
    raised = await client.send("POST", "/rpc/cancel_job", {"p_job_id": "00000000-0000-0000-0000-000000000000"})
    assert raised.status_code == 400 and raised.json()["code"] == "TNV01"
    counts = await client.send("POST", "/rpc/signal_counts", {"p_symbol": "EURUSD"})
    assert counts.json() == []


async def test_tokens_and_roles(db: Db, project: SupabaseProject, api: tuple[Api, User]) -> None:
    client, _ = api
    project.http.expire_access_tokens()
    expired = await client.get("/broker_connections")
    assert (expired.status_code, expired.json()["code"]) == (401, "PGRST301")
    assert "invalid_token" in expired.headers["www-authenticate"]
    forged = await client.http.get(client.url + "/broker_connections", headers={
        "apikey": project.http.anon_key, "authorization": "Bearer " + project.http.anon_key[:-4] + "AAAA"})
    assert (forged.status_code, forged.json()["code"]) == (401, "PGRST301")
    anon = await client.http.get(client.url + "/tv_strategies", headers={"apikey": project.http.anon_key})
    assert (anon.status_code, anon.json()["code"]) == (401, "42501")  # anon has no grant: 401, not 403


async def test_a_stable_function_can_be_called_with_get(api: tuple[Api, User]) -> None:
    client, _ = api
    answer = await client.get("/rpc/signal_page", {"p_symbol": "EURUSD", "p_limit": "5", "select": "id"})
    assert answer.status_code == 200 and answer.json() == []
    volatile = await client.get("/rpc/cancel_job", {"p_job_id": "00000000-0000-0000-0000-000000000000"})
    assert volatile.status_code == 405  # a GET runs read-only, as in PostgREST

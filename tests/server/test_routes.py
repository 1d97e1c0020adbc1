"""The extension's REST routes and websocket feed, through a real in-process
Jupyter server (pytest-jupyter's `jp_fetch` / `jp_ws_fetch`; see conftest)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from ml_intern_jupyter.server.validate import FIELD_KINDS
from ml_intern_jupyter.store.base import SESSION_FIELDS, STATUSES
from ml_intern_jupyter.store.http import SECRET_HEADER, SERVER_SECRET_ENV, SERVER_URL_ENV
from tests.server.conftest import Api

TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567"


def msg(i: int, role: str = "user") -> dict[str, Any]:
    return {"role": role, "content": f"message {i} — ünïcödé", "_ts": 1_700_000_000.0 + i}


def create(api: Api, sid: str = "s1", **fields: Any) -> dict[str, Any]:
    reply = api.post("sessions", body={"id": sid, **fields})
    assert reply.code == 201, reply.body
    return dict(reply.json)


def append(api: Api, sid: str, generation: int, start: int, messages: list[Any]) -> Any:
    body = {"generation": generation, "start_index": start, "messages": messages}
    return api.post("sessions", sid, "messages", body=body)


# --------------------------------------------------------------------------- routes


def test_create_then_get_one(api: Api) -> None:
    made = create(
        api,
        "s1",
        notebook="work/train.ipynb",
        title="Fine-tune",
        model="org/model",
        status="idle",
        created=100,
        updated=200.5,
        parent_id="s0",
        turns=3,
        cost_usd=0.25,
        pending_approval={"tool_calls": [{"id": "c1"}]},
        metadata={"cwd": "/tmp"},
        generation=7,  # ignored: a new session starts at generation 0
    )
    assert made["generation"] == 0 and made["created"] == 100.0 and made["turns"] == 3
    got = api.get("sessions", "s1")
    assert got.code == 200
    assert got.json == made
    assert set(got.json) == set(SESSION_FIELDS)
    assert got.headers["Content-Type"].startswith("application/json")


def test_list_newest_first_with_filters(api: Api) -> None:
    create(api, "a", notebook="nb1.ipynb", updated=10.0)
    create(api, "b", notebook="nb2.ipynb", updated=30.0, status="ended")
    create(api, "c", notebook="nb1.ipynb", updated=20.0, status="ended")

    def ids(**params: Any) -> list[str]:
        reply = api.get("sessions", params=params)
        assert reply.code == 200, reply.body
        return [s["id"] for s in reply.json["sessions"]]

    assert ids() == ["b", "c", "a"]
    assert ids(notebook="nb1.ipynb") == ["c", "a"]
    assert ids(status="ended") == ["b", "c"]
    assert ids(notebook="nb1.ipynb", status="ended") == ["c"]
    assert ids(limit=2) == ["b", "c"]
    assert ids(limit=0) == []
    assert ids(notebook="other.ipynb") == []


def test_patch_updates_metadata(api: Api) -> None:
    create(api, updated=1.0)
    reply = api.patch(
        "sessions", "s1", body={"status": "waiting_approval", "turns": 2, "metadata": {"k": "v"}}
    )
    assert reply.code == 200
    assert reply.json["status"] == "waiting_approval" and reply.json["turns"] == 2
    assert reply.json["updated"] > 1.0
    got = api.get("sessions", "s1").json
    assert got["metadata"] == {"k": "v"} and got["turns"] == 2
    api.patch("sessions", "s1", body={"pending_approval": None, "updated": 5})
    assert api.get("sessions", "s1").json["updated"] == 5.0


def test_archive(api: Api) -> None:
    create(api, "a")
    create(api, "b")
    reply = api.post("sessions", "a", "archive")
    assert reply.code == 200 and reply.json["status"] == "archived"
    listed = api.get("sessions", params={"status": "archived"}).json["sessions"]
    assert [s["id"] for s in listed] == ["a"]


def test_delete(api: Api) -> None:
    create(api, "a")
    append(api, "a", 0, 0, [msg(0)])
    reply = api.delete("sessions", "a")
    assert reply.code == 204 and reply.body == b""
    assert api.get("sessions", "a").code == 404
    assert api.get("sessions", "a", "messages").code == 404
    assert api.get("sessions").json["sessions"] == []


def test_append_and_page_messages(api: Api) -> None:
    create(api)
    history = [msg(i) for i in range(25)]
    assert append(api, "s1", 0, 0, history[:10]).code == 204
    assert append(api, "s1", 0, 10, history[10:]).code == 204
    assert append(api, "s1", 0, 0, history[:3]).code == 204  # idempotent retry
    whole = api.get("sessions", "s1", "messages").json
    assert whole == {"messages": history, "total": 25, "offset": 0}
    page = api.get("sessions", "s1", "messages", params={"offset": 10, "limit": 10}).json
    assert page["messages"] == history[10:20] and page["total"] == 25
    assert (
        api.get("sessions", "s1", "messages", params={"offset": 20}).json["messages"]
        == (history[20:])
    )
    count = api.get("sessions", "s1", "messages", params={"limit": 0}).json
    assert count == {"messages": [], "total": 25, "offset": 0}
    beyond = api.get("sessions", "s1", "messages", params={"offset": 99}).json
    assert beyond["messages"] == [] and beyond["total"] == 25


def test_new_generation(api: Api) -> None:
    create(api)
    history = [msg(i) for i in range(6)]
    append(api, "s1", 0, 0, history)
    reply = api.post("sessions", "s1", "generations", body={"messages": history[:3]})
    assert reply.code == 201 and reply.json == {"generation": 1}
    assert api.get("sessions", "s1").json["generation"] == 1
    assert api.get("sessions", "s1", "messages").json["messages"] == history[:3]
    assert append(api, "s1", 1, 3, [msg(9)]).code == 204
    assert api.get("sessions", "s1", "messages").json["total"] == 4


def test_secrets_are_scrubbed_on_the_way_in(api: Api) -> None:
    create(api, title=f"use {TOKEN}")
    append(api, "s1", 0, 0, [{"role": "user", "content": f"token {TOKEN}"}])
    stored = json.dumps(
        [api.get("sessions", "s1").json, api.get("sessions", "s1", "messages").json]
    )
    assert TOKEN not in stored and "[REDACTED]" in stored


# --------------------------------------------------------------------------- conflicts


def test_position_taken_is_409_conflict(api: Api) -> None:
    create(api)
    append(api, "s1", 0, 0, [msg(0), msg(1)])
    reply = append(api, "s1", 0, 1, [msg(99)])
    assert reply.code == 409
    assert reply.json["error"] == "conflict" and "Position 1" in reply.message


def test_replaced_generation_is_409_conflict(api: Api) -> None:
    create(api)
    append(api, "s1", 0, 0, [msg(0)])
    api.post("sessions", "s1", "generations", body={"messages": []})
    reply = append(api, "s1", 0, 1, [msg(1)])
    assert reply.code == 409 and reply.json["error"] == "conflict"
    assert "generation" in reply.message


def test_duplicate_id_and_gap_are_409_store_errors(api: Api) -> None:
    create(api)
    dup = api.post("sessions", body={"id": "s1"})
    assert dup.code == 409 and dup.json["error"] == "store_error"
    assert "already exists" in dup.message
    gap = append(api, "s1", 0, 5, [msg(5)])
    assert gap.code == 409 and "gap" in gap.message


# --------------------------------------------------------------------------- bad input

BODY_ROUTES = [
    ("POST", ("sessions",)),
    ("PATCH", ("sessions", "s1")),
    ("POST", ("sessions", "s1", "messages")),
    ("POST", ("sessions", "s1", "generations")),
]


@pytest.mark.parametrize(("method", "parts"), BODY_ROUTES)
@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ('{"id": "s1",', "not valid JSON"),
        ("not json at all", "not valid JSON"),
        ("", "empty"),
        ('["a", "list"]', "must be a JSON object, not an array"),
        ("42", "must be a JSON object, not an integer"),
        (b"\xff\xfe\x00garbage", "JSON"),
    ],
)
def test_invalid_json_is_400(
    api: Api, method: str, parts: tuple[str, ...], raw: str | bytes, says: str
) -> None:
    create(api)
    reply = api.call(method, *parts, raw=raw)
    assert reply.code == 400, reply.body
    assert reply.json["error"] == "invalid_json"
    assert says in reply.message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"title": "no id"}, "Missing field 'id'"),
        ({"id": "s2", "colour": "blue"}, "Unknown session field(s) colour"),
        ({"id": "s2", "title": 5}, "'title' must be string, not an integer"),
        ({"id": "s2", "turns": "3"}, "'turns' must be integer, not a string"),
        ({"id": "s2", "turns": True}, "'turns' must be integer, not a boolean"),
        ({"id": "s2", "turns": 1.5}, "'turns' must be integer, not a number"),
        ({"id": "s2", "created": "yesterday"}, "'created' must be number"),
        ({"id": "s2", "metadata": ["x"]}, "'metadata' must be object or null, not an array"),
        ({"id": "s2", "parent_id": 7}, "'parent_id' must be string or null"),
        ({"id": "s2", "status": "sleeping"}, "Unknown session status 'sleeping'"),
        ({"id": 12}, "Invalid session id 12"),
        ({"id": "has space"}, "Invalid session id"),
    ],
)
def test_create_with_bad_fields_is_400(api: Api, body: dict[str, Any], says: str) -> None:
    reply = api.post("sessions", body=body)
    assert reply.code == 400, reply.body
    assert says in reply.message
    assert api.get("sessions").json["sessions"] == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"id": "s9"}, "Cannot update session field(s) id"),
        ({"created": 1.0}, "Cannot update session field(s) created"),
        ({"generation": 3}, "Cannot update session field(s) generation"),
        ({"bogus": 1}, "Cannot update session field(s) bogus"),
        ({"status": "sleeping"}, "Unknown session status"),
        ({"cost_usd": "free"}, "'cost_usd' must be number, not a string"),
        ({"trace_status": "done"}, "'trace_status' must be object or null"),
    ],
)
def test_patch_with_bad_fields_is_400(api: Api, body: dict[str, Any], says: str) -> None:
    create(api, title="kept")
    reply = api.patch("sessions", "s1", body=body)
    assert reply.code == 400, reply.body
    assert says in reply.message
    assert api.get("sessions", "s1").json["title"] == "kept"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"start_index": 0, "messages": []}, "Missing field 'generation'"),
        ({"generation": 0, "messages": []}, "Missing field 'start_index'"),
        ({"generation": 0, "start_index": 0}, "Missing field 'messages'"),
        ({"generation": "0", "start_index": 0, "messages": []}, "'generation' must be an integer"),
        (
            {"generation": 0, "start_index": None, "messages": []},
            "'start_index' must be an integer",
        ),
        ({"generation": 0, "start_index": 0, "messages": {}}, "'messages' must be an array"),
        ({"generation": 0, "start_index": -1, "messages": []}, "start_index must be >= 0"),
        ({"generation": 0, "start_index": 0, "messages": [{}, 3]}, "Message 1 is a int"),
        ({"generation": 0, "start_index": 0, "messages": [], "x": 1}, "Unknown request field"),
    ],
)
def test_append_with_bad_fields_is_400(api: Api, body: dict[str, Any], says: str) -> None:
    create(api)
    reply = api.post("sessions", "s1", "messages", body=body)
    assert reply.code == 400, reply.body
    assert says in reply.message
    assert api.get("sessions", "s1", "messages").json["total"] == 0


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "Missing field 'messages'"),
        ({"messages": "all of them"}, "'messages' must be an array, not a string"),
        ({"messages": [["x"]]}, "Message 0 is a list"),
    ],
)
def test_new_generation_with_bad_fields_is_400(api: Api, body: dict[str, Any], says: str) -> None:
    create(api)
    reply = api.post("sessions", "s1", "generations", body=body)
    assert reply.code == 400 and says in reply.message
    assert api.get("sessions", "s1").json["generation"] == 0


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"limit": "-1"}, "'limit' must be >= 0"),
        ({"limit": "ten"}, "'limit' must be an integer"),
        ({"status": "sleeping"}, "Unknown session status"),
    ],
)
def test_bad_list_query_is_400(api: Api, params: dict[str, str], says: str) -> None:
    reply = api.get("sessions", params=params)
    assert reply.code == 400 and says in reply.message


@pytest.mark.parametrize("params", [{"offset": "-3"}, {"offset": "x"}, {"limit": "1.5"}])
def test_bad_messages_query_is_400(api: Api, params: dict[str, str]) -> None:
    create(api)
    reply = api.get("sessions", "s1", "messages", params=params)
    assert reply.code == 400 and ("offset" in reply.message or "limit" in reply.message)


ID_ROUTES = [
    ("GET", ()),
    ("PATCH", ()),
    ("DELETE", ()),
    ("POST", ("archive",)),
    ("GET", ("messages",)),
    ("POST", ("messages",)),
    ("POST", ("generations",)),
]


def _body_for(method: str, suffix: tuple[str, ...]) -> Any:
    if suffix == ("messages",) and method == "POST":
        return {"generation": 0, "start_index": 0, "messages": [msg(0)]}
    if suffix == ("generations",):
        return {"messages": []}
    return {"turns": 1} if method == "PATCH" else None


@pytest.mark.parametrize(("method", "suffix"), ID_ROUTES)
@pytest.mark.parametrize("bad_id", ["dot.ted", "x" * 65, "sp ace", "ünï"])
def test_bad_id_is_400(api: Api, method: str, suffix: tuple[str, ...], bad_id: str) -> None:
    reply = api.call(method, "sessions", bad_id, *suffix, body=_body_for(method, suffix))
    assert reply.code == 400, reply.body
    assert reply.json["error"] == "invalid_id" and "Invalid session id" in reply.message


@pytest.mark.parametrize(("method", "suffix"), ID_ROUTES)
def test_unknown_id_is_404(api: Api, method: str, suffix: tuple[str, ...]) -> None:
    create(api, "other")
    reply = api.call(method, "sessions", "ghost", *suffix, body=_body_for(method, suffix))
    assert reply.code == 404, reply.body
    assert reply.json["error"] == "unknown_session" and "ghost" in reply.message


def test_unsupported_method_is_405_json(api: Api) -> None:
    reply = api.call("PUT", "sessions", raw="{}")
    assert reply.code == 405 and reply.json["error"] == "method_not_allowed"


@pytest.mark.parametrize("max_body_bytes", [4096])
def test_body_over_the_limit_is_413(api: Api, max_body_bytes: int) -> None:
    create(api)
    big = [{"role": "tool", "content": "x" * 5000}]
    for auth in ("token", "secret"):
        body = {"generation": 0, "start_index": 0, "messages": big}
        reply = api.post("sessions", "s1", "messages", body=body, auth=auth)
        assert reply.code == 413, reply.body
        assert reply.json["error"] == "too_large" and "at most 4,096" in reply.message
    assert api.get("sessions", "s1", "messages").json["total"] == 0
    # Authentication comes first: a stranger's big body is a 403, not a 413.
    body = {"generation": 0, "start_index": 0, "messages": big}
    assert api.post("sessions", "s1", "messages", body=body, auth=None).code == 403
    # Just under the limit is fine.
    small = [{"role": "tool", "content": "x" * 3900}]
    body = {"generation": 0, "start_index": 0, "messages": small}
    assert api.post("sessions", "s1", "messages", body=body).code == 204


# --------------------------------------------------------------------------- auth

ALL_ROUTES = [
    ("GET", ("sessions",)),
    ("POST", ("sessions",)),
    ("GET", ("sessions", "s1")),
    ("PATCH", ("sessions", "s1")),
    ("DELETE", ("sessions", "s1")),
    ("POST", ("sessions", "s1", "archive")),
    ("GET", ("sessions", "s1", "messages")),
    ("POST", ("sessions", "s1", "messages")),
    ("POST", ("sessions", "s1", "generations")),
    ("GET", ("sessions", "s1", "export")),
]


def _body(method: str, parts: tuple[str, ...]) -> Any:
    if parts == ("sessions",) and method == "POST":
        return {"id": "s2"}
    return _body_for(method, parts[2:])


@pytest.mark.parametrize(("method", "parts"), ALL_ROUTES)
def test_no_credentials_is_403(api: Api, method: str, parts: tuple[str, ...]) -> None:
    create(api, title="untouched")
    reply = api.call(method, *parts, body=_body(method, parts), auth=None)
    assert reply.code == 403, reply.body
    assert reply.json["error"] == "forbidden"
    # Jupyter checks XSRF before authentication, so an anonymous write fails that first.
    expected = "Not authenticated" if method == "GET" else "'_xsrf' argument missing"
    assert expected in reply.message
    assert api.get("sessions", "s1").json["title"] == "untouched"
    assert [s["id"] for s in api.get("sessions").json["sessions"]] == ["s1"]


@pytest.mark.parametrize(("method", "parts"), ALL_ROUTES)
def test_kernel_secret_alone_is_enough(api: Api, method: str, parts: tuple[str, ...]) -> None:
    """No token, no XSRF cookie: the secret header authorises a kernel."""
    create(api)
    reply = api.call(method, *parts, body=_body(method, parts), auth="secret")
    assert reply.code in (200, 201, 204), reply.body


@pytest.mark.parametrize(("method", "parts"), ALL_ROUTES)
def test_wrong_secret_is_403_even_with_a_token(
    api: Api, method: str, parts: tuple[str, ...], jp_auth_header: dict[str, str]
) -> None:
    create(api, title="untouched")
    wrong = {SECRET_HEADER: api.secret[:-2] + "xx"}
    for headers in (wrong, {**wrong, **jp_auth_header}):
        reply = api.call(method, *parts, body=_body(method, parts), auth=headers)
        assert reply.code == 403, reply.body
        assert "does not match this server's secret" in reply.message
    assert api.get("sessions", "s1").json["title"] == "untouched"


def test_wrong_token_is_403(api: Api) -> None:
    reply = api.get("sessions", auth={"Authorization": "token not-the-token"})
    assert reply.code == 403


def test_browser_cookie_login_needs_xsrf_for_writes(api: Api, jp_serverapp: Any) -> None:
    """A browser: logged in by cookie, no token header; writes need the XSRF token."""
    token = jp_serverapp.identity_provider.token
    login = api.get("sessions", params={"token": token}, auth={})
    assert login.code == 200
    cookies = [c.split(";", 1)[0] for c in login.headers.get_list("Set-Cookie")]
    assert cookies, "logging in with ?token= should set a login cookie"
    cookie = "; ".join(cookies)
    assert api.get("sessions", auth={"Cookie": cookie}).code == 200

    no_xsrf = api.post("sessions", body={"id": "b1"}, auth={"Cookie": cookie})
    assert no_xsrf.code == 403 and "xsrf" in no_xsrf.message.lower()
    xsrf = "0123456789abcdef0123456789abcdef"
    with_xsrf = {"Cookie": f"{cookie}; _xsrf={xsrf}", "X-XSRFToken": xsrf}
    assert api.post("sessions", body={"id": "b1"}, auth=with_xsrf).code == 201
    assert api.delete("sessions", "b1", auth={"Cookie": cookie}).code == 403
    assert api.delete("sessions", "b1", auth=with_xsrf).code == 204


def test_token_header_needs_no_xsrf(api: Api) -> None:
    assert api.post("sessions", body={"id": "t1"}).code == 201


def test_secret_and_url_are_published_to_the_environment(api: Api, jp_serverapp: Any) -> None:
    url = f"http://127.0.0.1:{jp_serverapp.port}{jp_serverapp.base_url}"
    assert os.environ[SERVER_URL_ENV] == url
    assert os.environ[SERVER_SECRET_ENV] == api.secret
    assert len(api.secret) >= 40
    assert os.environ["ML_INTERN_HOME"] == str(api.app.store_home)


# --------------------------------------------------------------------------- feed


def test_feed_pushes_every_session_change(api: Api, jp_ws_fetch: Any) -> None:
    async def scenario() -> list[dict[str, Any]]:
        ws = await jp_ws_fetch("ml-intern", "api", "feed")
        seen: list[dict[str, Any]] = []

        async def next_event() -> dict[str, Any]:
            text = await asyncio.wait_for(ws.read_message(), 10)
            assert text is not None, "feed closed"
            event: dict[str, Any] = json.loads(text)
            seen.append(event)
            return event

        await api.acall("POST", "sessions", body={"id": "f1", "title": "first"})
        assert (await next_event())["event"] == "created"
        await api.acall("PATCH", "sessions", "f1", body={"title": "renamed", "turns": 4})
        updated = await next_event()
        assert updated["session"]["title"] == "renamed" and updated["session"]["turns"] == 4
        body = {"generation": 0, "start_index": 0, "messages": [msg(0)]}
        await api.acall("POST", "sessions", "f1", "messages", body=body)  # not announced
        await api.acall("POST", "sessions", "f1", "generations", body={"messages": []})
        rewritten = await next_event()
        assert rewritten["event"] == "updated" and rewritten["session"]["generation"] == 1
        await api.acall("POST", "sessions", "f1", "archive")
        assert (await next_event())["session"]["status"] == "archived"
        await api.acall("DELETE", "sessions", "f1")
        await next_event()
        # A failed change announces nothing.
        await api.acall("PATCH", "sessions", "f1", body={"turns": 1})
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.read_message(), 0.3)
        ws.close()
        return seen

    events = api.run(scenario())
    assert [(e["type"], e["event"], e["session"]["id"]) for e in events] == [
        ("session", "created", "f1"),
        ("session", "updated", "f1"),
        ("session", "updated", "f1"),
        ("session", "archived", "f1"),
        ("session", "deleted", "f1"),
    ]
    assert events[0]["session"]["title"] == "first"
    assert set(events[0]["session"]) == set(SESSION_FIELDS)
    assert events[-1]["session"] == {"id": "f1"}


def test_feed_needs_authentication(api: Api, jp_ws_fetch: Any) -> None:
    async def connect(headers: dict[str, str]) -> int:
        try:
            ws = await jp_ws_fetch("ml-intern", "api", "feed", headers=headers)
        except HTTPClientError as exc:
            return exc.code
        ws.close()
        return 101

    assert api.run(connect({"Authorization": ""})) == 403
    assert api.run(connect({"Authorization": "", SECRET_HEADER: "wrong"})) == 403
    assert api.run(connect({"Authorization": "", SECRET_HEADER: api.secret})) == 101


def test_feed_serves_several_clients(
    api: Api, jp_ws_fetch: Any, jp_http_port: int, jp_base_url: str
) -> None:
    async def scenario() -> list[str]:
        first = await jp_ws_fetch("ml-intern", "api", "feed")
        url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}ml-intern/api/feed"
        second = await websocket_connect(HTTPRequest(url, headers={SECRET_HEADER: api.secret}))
        await api.acall("POST", "sessions", body={"id": "m1"})
        texts = [await asyncio.wait_for(ws.read_message(), 10) for ws in (first, second)]
        second.close()
        await asyncio.sleep(0.05)  # let the server see the close
        await api.acall("POST", "sessions", body={"id": "m2"})
        texts.append(await asyncio.wait_for(first.read_message(), 10))
        first.close()
        return [json.loads(t)["session"]["id"] for t in texts if t]

    assert api.run(scenario()) == ["m1", "m1", "m2"]


# --------------------------------------------------------------------------- wiring


def test_field_kinds_cover_every_session_field() -> None:
    assert set(FIELD_KINDS) == set(SESSION_FIELDS)
    assert "status" in FIELD_KINDS and len(STATUSES) > 3


# --------------------------------------------------------------------------- export


def test_export_downloads_each_format_scrubbed(api: Api) -> None:
    create(api, "s1", title="Fine-tune", model="org/model", created=1_700_000_000)
    history = [
        {"role": "user", "content": f"Train it; my token is {TOKEN}", "_ts": 1_700_000_001.0},
        {"role": "assistant", "content": "Training done.", "_ts": 1_700_000_002.0},
    ]
    assert append(api, "s1", 0, 0, history).code == 204

    jsonl = api.get("sessions", "s1", "export", params={"format": "claude_code"})
    assert jsonl.code == 200, jsonl.body
    assert jsonl.headers["Content-Type"].startswith("application/x-ndjson")
    assert 'filename="s1.jsonl"' in jsonl.headers["Content-Disposition"]
    lines = [json.loads(line) for line in jsonl.body.decode().splitlines()]
    assert [line["type"] for line in lines] == ["user", "assistant"]
    assert "Training done." in json.dumps(lines[1])

    markdown = api.get("sessions", "s1", "export", params={"format": "markdown"})
    assert markdown.code == 200 and markdown.headers["Content-Type"].startswith("text/markdown")
    assert "Training done." in markdown.body.decode()

    dump = api.get("sessions", "s1", "export", params={"format": "json"})
    assert dump.code == 200 and dump.json["session"]["title"] == "Fine-tune"
    assert len(dump.json["messages"]) == 2

    hub = api.get("sessions", "s1", "export", params={"format": "hf_session"})
    assert hub.code == 200 and hub.headers["Content-Type"].startswith("application/x-ndjson")
    assert 'filename="s1.jsonl"' in hub.headers["Content-Disposition"]
    header, *messages = [json.loads(line) for line in hub.body.decode().splitlines()]
    assert header["type"] == "session" and header["id"] == "s1" and header["name"] == "Fine-tune"
    assert header["harness"] == "ml-intern-jupyter" and header["model"] == "org/model"
    assert [m["message"]["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["message"]["content"] == "Training done."
    assert messages[0]["message"]["timestamp"] == 1_700_000_001_000

    default = api.get("sessions", "s1", "export")
    assert default.code == 200 and default.body == jsonl.body  # Claude Code unless asked
    for reply in (jsonl, hub, markdown, dump):
        assert TOKEN not in reply.body.decode()


def test_export_bad_requests(api: Api) -> None:
    create(api, "s1")
    bad = api.get("sessions", "s1", "export", params={"format": "pdf"})
    assert bad.code == 400 and "claude_code, hf_session, markdown, json" in bad.message
    missing = api.get("sessions", "nope", "export")
    assert missing.code == 404 and missing.json["error"] == "unknown_session"
    assert api.get("sessions", "bad id!", "export").code in (400, 404)

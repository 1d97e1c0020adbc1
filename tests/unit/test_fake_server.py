"""The scripted OpenAI-compatible server used by the LLM tests, tested directly."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any

import httpx
import pytest

from tests.fakes.llm_server import (
    Disconnect,
    ErrorReply,
    FakeLLMServer,
    RecordedRequest,
    Reply,
    ToolCall,
)


def post(server: FakeLLMServer, body: Any, path: str = "/chat/completions", **headers: str):
    """POST JSON; returns (status, headers, parsed body) for successes and HTTP errors."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(
        server.url + path,
        data=data,
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def sse(server: FakeLLMServer, body: dict[str, Any]) -> list[Any]:
    """Stream a request; returns the decoded `data:` payloads ('[DONE]' kept as a string)."""
    events: list[Any] = []
    with httpx.stream("POST", server.url + "/chat/completions", json=body, timeout=5) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "text/event-stream"
        for line in resp.iter_lines():
            if line.startswith("data: "):
                payload = line[len("data: ") :]
                events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


CHAT = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}


# ---------------------------------------------------------------- non-stream


def test_non_stream_reply(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(content="Hello!", usage=(11, 3)))
    status, _headers, body = post(fake_llm, CHAT)
    assert status == 200
    assert body["object"] == "chat.completion"
    assert body["model"] == "test-model"
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Hello!"}
    assert choice["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}


def test_non_stream_tool_calls(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(
        Reply(
            tool_calls=[
                ToolCall("read", {"path": "a.txt"}, id="call_x"),
                ToolCall("bash", '{"command": '),  # malformed on purpose, sent verbatim
            ],
            usage=None,
        )
    )
    _status, _headers, body = post(fake_llm, CHAT)
    message = body["choices"][0]["message"]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert message["content"] is None
    first, second = message["tool_calls"]
    assert first == {
        "id": "call_x",
        "type": "function",
        "function": {"name": "read", "arguments": '{"path": "a.txt"}'},
    }
    assert second["function"]["arguments"] == '{"command": '
    assert second["id"].startswith("call_")
    assert "usage" not in body


def test_reasoning_in_non_stream_reply(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(content="42", reasoning="thinking..."))
    _status, _headers, body = post(fake_llm, CHAT)
    assert body["choices"][0]["message"]["reasoning_content"] == "thinking..."


def test_fallback_when_script_is_exhausted(fake_llm: FakeLLMServer) -> None:
    assert fake_llm.pending == 0
    _status, _headers, body = post(fake_llm, CHAT)
    assert "script exhausted" in body["choices"][0]["message"]["content"]
    fake_llm.fallback = Reply(content="custom fallback")
    _status, _headers, body = post(fake_llm, CHAT)
    assert body["choices"][0]["message"]["content"] == "custom fallback"


# -------------------------------------------------------------------- stream


def test_stream_chunks_and_usage(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(content="abcdefghij", chunk_size=4, usage=(7, 2)))
    events = sse(fake_llm, {**CHAT, "stream": True, "stream_options": {"include_usage": True}})
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    texts = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert [t for t in texts if t] == ["abcd", "efgh", "ij"]
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == "stop" and set(finish[:-1]) == {None}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}


def test_stream_without_include_usage_sends_no_usage(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(content="abc"))
    events = sse(fake_llm, {**CHAT, "stream": True})
    assert all("usage" not in e for e in events[:-1])
    assert all(e["choices"] for e in events[:-1])


def test_stream_tool_call_deltas_are_split_and_interleaved(fake_llm: FakeLLMServer) -> None:
    calls = [ToolCall("read", {"path": "abcdefgh"}), ToolCall("bash", {"command": "ls -la"})]
    fake_llm.script(Reply(tool_calls=calls, chunk_size=5))
    events = sse(fake_llm, {**CHAT, "stream": True})
    deltas = [tc for e in events[:-1] for tc in e["choices"][0]["delta"].get("tool_calls", [])]
    headers = [d for d in deltas if "id" in d]
    assert [(h["index"], h["function"]["name"]) for h in headers] == [(0, "read"), (1, "bash")]
    fragments = [d for d in deltas if "id" not in d]
    # Several fragments per call, interleaved by index.
    assert [f["index"] for f in fragments[:4]] == [0, 1, 0, 1]
    for index, call in enumerate(calls):
        joined = "".join(f["function"]["arguments"] for f in fragments if f["index"] == index)
        assert joined == call.arguments_text()
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_reasoning_deltas(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(content="ok", reasoning="hmm", chunk_size=2))
    events = sse(fake_llm, {**CHAT, "stream": True})
    reasoning = [e["choices"][0]["delta"].get("reasoning_content") for e in events[:-1]]
    assert "".join(r for r in reasoning if r) == "hmm"


def test_stream_delay_slows_each_chunk(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(content="abcd", chunk_size=1, delay=0.02))
    started = time.monotonic()
    sse(fake_llm, {**CHAT, "stream": True})
    assert time.monotonic() - started >= 0.02 * 5  # four text chunks + the finish chunk


def test_disconnect_after_chunks_truncates_the_stream(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(content="abcdefgh", chunk_size=2, disconnect_after_chunks=2))
    seen: list[str] = []
    with pytest.raises(httpx.HTTPError):
        with httpx.stream(
            "POST", fake_llm.url + "/chat/completions", json={**CHAT, "stream": True}, timeout=5
        ) as resp:
            for line in resp.iter_lines():
                seen.append(line)
    data = [line for line in seen if line.startswith("data: ")]
    assert len(data) <= 2
    assert "data: [DONE]" not in seen


# -------------------------------------------------------------------- errors


def test_rate_limit_carries_retry_after(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(ErrorReply.rate_limit(retry_after=2), ErrorReply.rate_limit(retry_after=1.5))
    status, headers, body = post(fake_llm, CHAT)
    assert status == 429
    assert headers["Retry-After"] == "2"
    assert body["error"]["code"] == "rate_limit_exceeded"
    _status, headers, _body = post(fake_llm, CHAT)
    assert headers["Retry-After"] == "1.5"


def test_rate_limit_without_retry_after(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(ErrorReply.rate_limit(retry_after=None))
    status, headers, _body = post(fake_llm, CHAT)
    assert status == 429
    assert "Retry-After" not in headers


@pytest.mark.parametrize(
    ("reply", "status", "code", "type_"),
    [
        (ErrorReply.server_error(), 500, None, "server_error"),
        (ErrorReply.server_error(503), 503, None, "server_error"),
        (ErrorReply.context_overflow(), 400, "context_length_exceeded", "invalid_request_error"),
        (ErrorReply.auth(), 401, "invalid_api_key", "invalid_request_error"),
        (ErrorReply.not_found_model("m"), 404, "model_not_found", "invalid_request_error"),
        (ErrorReply(418, "teapot"), 418, None, "invalid_request_error"),
    ],
)
def test_error_replies(
    fake_llm: FakeLLMServer, reply: ErrorReply, status: int, code: str | None, type_: str
) -> None:
    fake_llm.script(reply)
    got_status, _headers, body = post(fake_llm, {**CHAT, "stream": True})  # even when streaming
    assert got_status == status
    assert body["error"]["code"] == code
    assert body["error"]["type"] == type_
    assert body["error"]["message"] == reply.message


def test_disconnect_closes_without_a_response(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Disconnect())
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        post(fake_llm, CHAT)
    # The server keeps serving afterwards.
    fake_llm.script(Reply(content="still here"))
    assert post(fake_llm, CHAT)[2]["choices"][0]["message"]["content"] == "still here"


# --------------------------------------------------- recording and scripting


def test_requests_are_recorded(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(content="a"), Reply(content="b"))
    assert fake_llm.pending == 2
    post(fake_llm, CHAT, **{"X-HF-Session-id": "sess-9", "Authorization": "Bearer k"})
    assert fake_llm.pending == 1
    req = fake_llm.requests[-1]
    assert isinstance(req, RecordedRequest)
    assert req.path == "/v1/chat/completions"
    assert req.method == "POST"
    assert req.headers["x-hf-session-id"] == "sess-9"  # names are lower-cased
    assert req.headers["authorization"] == "Bearer k"
    assert req.body == CHAT
    assert json.loads(req.raw_body) == CHAT


def test_reset_clears_script_requests_and_errors(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(Reply(content="a"), Reply(content="b"))
    post(fake_llm, CHAT)
    fake_llm.reset()
    assert fake_llm.pending == 0
    assert fake_llm.requests == []
    assert fake_llm.errors == []


def test_callable_script_entries_see_the_request(fake_llm: FakeLLMServer) -> None:
    def echo(request: RecordedRequest) -> Reply:
        return Reply(content="you said " + request.body["messages"][-1]["content"])

    fake_llm.script(echo)
    assert post(fake_llm, CHAT)[2]["choices"][0]["message"]["content"] == "you said hi"


def test_failing_callable_gives_500_and_is_recorded(fake_llm: FakeLLMServer) -> None:
    def broken(_request: RecordedRequest) -> Reply:
        raise RuntimeError("script bug")

    fake_llm.script(broken)
    status, _headers, body = post(fake_llm, CHAT)
    assert status == 500
    assert "script bug" in body["error"]["message"]
    assert len(fake_llm.errors) == 1 and isinstance(fake_llm.errors[0], RuntimeError)


def test_unsupported_scripted_object_gives_500(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(lambda _req: "not a response")
    status, _headers, _body = post(fake_llm, CHAT)
    assert status == 500
    assert isinstance(fake_llm.errors[0], TypeError)


def test_invalid_json_body_is_400(fake_llm: FakeLLMServer) -> None:
    status, _headers, body = post(fake_llm, b"{not json")
    assert status == 400
    assert "Invalid JSON" in body["error"]["message"]
    assert fake_llm.requests == []


def test_unknown_paths_are_404(fake_llm: FakeLLMServer) -> None:
    status, _headers, _body = post(fake_llm, CHAT, path="/embeddings")
    assert status == 404
    resp = httpx.get(fake_llm.url + "/nothing", timeout=5)
    assert resp.status_code == 404


def test_models_listing(fake_llm: FakeLLMServer) -> None:
    resp = httpx.get(fake_llm.url + "/models", timeout=5)
    assert resp.status_code == 200
    assert [m["id"] for m in resp.json()["data"]] == ["test-model"]


def test_chunked_request_body_is_read(fake_llm: FakeLLMServer) -> None:
    def gen():
        data = json.dumps(CHAT).encode()
        yield data[:10]
        yield data[10:]

    resp = httpx.post(fake_llm.url + "/chat/completions", content=gen(), timeout=5)
    assert resp.status_code == 200
    assert fake_llm.requests[-1].body == CHAT


def test_reply_validates_chunk_size_and_freezes_tool_calls() -> None:
    with pytest.raises(ValueError):
        Reply(chunk_size=0)
    reply = Reply(tool_calls=[ToolCall("a")])
    assert isinstance(reply.tool_calls, tuple)
    assert reply.effective_finish_reason == "tool_calls"
    assert Reply(finish_reason="length").effective_finish_reason == "length"


def test_stop_releases_the_port() -> None:
    server = FakeLLMServer().start()
    url = server.url
    assert httpx.get(url + "/models", timeout=5).status_code == 200
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/models", timeout=2)


def test_context_manager() -> None:
    with FakeLLMServer(model="other-model") as server:
        assert httpx.get(server.url + "/models", timeout=5).json()["data"][0]["id"] == "other-model"
        assert server.url.startswith("http://127.0.0.1:")

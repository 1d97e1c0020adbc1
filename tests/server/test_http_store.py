"""`HttpStore` behaviour beyond the store contract (which `tests/unit/test_store.py`
runs against it): connection reuse, error mapping, and failures of the link."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_intern_jupyter.store import (
    HttpStore,
    PayloadTooLargeError,
    SessionRecord,
    StoreConflictError,
    StoreError,
    StoreUnavailableError,
    UnknownSessionError,
)
from tests.server.live import LiveServer

TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567"


class CountingStore(HttpStore):
    """Counts the connections it opens."""

    opened = 0

    def _new_connection(self) -> Any:
        self.opened += 1
        return super()._new_connection()


@pytest.fixture
def store(live_server: LiveServer) -> Iterator[CountingStore]:
    client = CountingStore(live_server.url, live_server.secret)
    yield client
    client.close()


def test_one_kept_alive_connection_serves_sequential_calls(store: CountingStore) -> None:
    store.create_session(SessionRecord(id="s1"))
    for i in range(50):
        store.append_messages("s1", 0, i, [{"role": "user", "content": str(i)}])
    assert store.count_messages("s1") == 50
    assert store.opened == 1


def test_concurrent_callers_get_their_own_connections(store: CountingStore) -> None:
    store.create_session(SessionRecord(id="s1"))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(20):
                store.count_messages("s1")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert 1 < store.opened <= 5  # pooled: not one per call


def test_idle_connection_closed_by_the_server_is_replaced(
    store: CountingStore, live_server: LiveServer
) -> None:
    store.create_session(SessionRecord(id="s1"))
    assert store.opened == 1
    app = live_server.app
    assert app is not None
    # The server drops its idle keep-alive connections (as after its idle timeout).
    done = asyncio.run_coroutine_threadsafe(
        app.http_server.close_all_connections(), app.io_loop.asyncio_loop
    )
    done.result(10)
    store.append_messages("s1", 0, 0, [{"role": "user", "content": "after"}])
    assert store.load_messages("s1") == [{"role": "user", "content": "after"}]
    assert store.opened == 2


def test_error_mapping(store: CountingStore) -> None:
    store.create_session(SessionRecord(id="s1"))
    store.append_messages("s1", 0, 0, [{"role": "user", "content": "a"}])
    with pytest.raises(UnknownSessionError, match="ghost"):
        store.load_messages("ghost")
    with pytest.raises(StoreConflictError, match="Position 0"):
        store.append_messages("s1", 0, 0, [{"role": "user", "content": "b"}])
    with pytest.raises(StoreError, match="already exists") as info:
        store.create_session(SessionRecord(id="s1"))
    assert not isinstance(info.value, StoreConflictError)
    with pytest.raises(ValueError, match="status"):
        store.update_session("s1", status="sleeping")
    with pytest.raises(ValueError, match="Invalid session id"):
        store.create_session(SessionRecord(id="../etc"))
    # Ids the server would refuse can never name a stored session.
    assert store.get_session("a/b") is None
    with pytest.raises(UnknownSessionError):
        store.count_messages("a b")
    with pytest.raises(ValueError, match="cannot be sent as JSON"):
        store.update_session("s1", metadata={"x": object()})


def test_wrong_secret_means_unavailable(live_server: LiveServer) -> None:
    """A 403 for our secret: another server took the port; the kernel must fall back."""
    client = HttpStore(live_server.url, "not-the-secret")
    with pytest.raises(StoreUnavailableError, match="403"):
        client.list_sessions()
    client.close()


def test_server_without_the_extension_means_unavailable(live_server: LiveServer) -> None:
    client = HttpStore(live_server.url + "no-such-prefix/", live_server.secret)
    with pytest.raises(StoreUnavailableError, match="extension enabled"):
        client.list_sessions()
    client.close()


def test_body_over_the_limit_is_payload_too_large(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "root", tmp_path / "home", max_body_bytes=2048) as server:
        client = HttpStore(server.url, server.secret)
        client.create_session(SessionRecord(id="s1"))
        with pytest.raises(PayloadTooLargeError, match="at most 2,048"):
            client.new_generation("s1", [{"role": "tool", "content": "x" * 4000}])
        assert client.count_messages("s1") == 0
        client.close()


def test_stopped_server_is_unavailable_and_nothing_was_sent(
    store: CountingStore, live_server: LiveServer
) -> None:
    store.create_session(SessionRecord(id="s1"))
    live_server.stop()
    with pytest.raises(StoreUnavailableError, match="Cannot reach") as info:
        store.append_messages("s1", 0, 0, [{"role": "user", "content": "x"}])
    assert info.value.request_sent is False


# --------------------------------------------------------------------------- raw fakes


class RawServer:
    """A loopback TCP server that reads one request and then does `behave(conn)`."""

    def __init__(self, behave: Callable[[socket.socket], None]):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.requests: list[bytes] = []
        self._behave = behave
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            data = b""
            conn.settimeout(5)
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while len(body) < length:
                body += conn.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + body)
            self._behave(conn)

    def close(self) -> None:
        self.sock.close()
        self._thread.join(5)


def test_connection_dropped_after_sending_marks_request_sent() -> None:
    server = RawServer(lambda conn: None)  # read the request, then hang up
    client = HttpStore(server.url, "s3cret")
    with pytest.raises(StoreUnavailableError) as info:
        client.append_messages("s1", 0, 0, [{"role": "user", "content": "x"}])
    assert info.value.request_sent is True
    assert b"X-ML-Intern-Secret: s3cret" in server.requests[0]
    server.close()


def test_no_answer_times_out_as_unavailable() -> None:
    stop = threading.Event()
    server = RawServer(lambda conn: stop.wait(10))
    client = HttpStore(server.url, "s3cret", timeout=0.3)
    with pytest.raises(StoreUnavailableError, match="no answer within 0.3 s"):
        client.count_messages("s1")
    stop.set()
    server.close()


def test_scrubs_before_sending_off_loopback() -> None:
    assert HttpStore("http://127.0.0.1:1/", "x")._scrub is False
    assert HttpStore("http://localhost:1/", "x")._scrub is False
    assert HttpStore("http://[::1]:1/", "x")._scrub is False
    assert HttpStore("https://jupyter.example.org/user/a/", "x")._scrub is True

    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

    server = RawServer(answer)
    client = HttpStore(server.url, "s3cret", scrub_before_send=True)
    client.append_messages("s1", 0, 0, [{"role": "user", "content": f"token {TOKEN}"}])
    sent = server.requests[0]
    assert TOKEN.encode() not in sent and b"[REDACTED]" in sent
    body = json.loads(sent.partition(b"\r\n\r\n")[2])
    assert body == {
        "generation": 0,
        "start_index": 0,
        "messages": [{"role": "user", "content": "token [REDACTED]"}],
    }
    server.close()


@pytest.mark.parametrize("url", ["ftp://host/", "127.0.0.1:8888", "http:///nohost"])
def test_bad_url_is_rejected_without_io(url: str) -> None:
    with pytest.raises(ValueError, match="ML_INTERN_SERVER_URL"):
        HttpStore(url, "secret")


def test_closed_client_raises() -> None:
    client = HttpStore("http://127.0.0.1:9/", "secret")
    client.close()
    with pytest.raises(StoreError, match="closed"):
        client.list_sessions()

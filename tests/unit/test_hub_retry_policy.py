"""Our retry policy is the only one for the tools' Hub calls (tools/hub_http.py).

huggingface_hub retries 429, 5xx and connection errors by itself (2.x: in every
paginated listing). Inside our tools' calls it must not; in the user's own
code it must behave as the library always does.
"""

from __future__ import annotations

import time

import pytest

from ml_intern_jupyter.tools import hub_http
from ml_intern_jupyter.tools.hub import repo_files_tool, search_tool
from ml_intern_jupyter.tools.hub_client import in_thread, make_api
from tests.fakes.hub_server import FakeHub
from tests.hub_harness import FAST, call, closed_port_url


@pytest.fixture
def fresh_client():
    """Drop huggingface_hub's shared client so the next call builds one from the env."""
    from huggingface_hub.utils import close_session

    close_session()
    yield
    close_session()


async def test_a_429_is_asked_for_once_and_reported_with_its_wait(hub: FakeHub) -> None:
    hub.inject(429, match="/api/models", headers={"Retry-After": "30"}, times=None)
    started = time.monotonic()
    result = await call(search_tool(FAST), query="bert")
    assert time.monotonic() - started < 5  # the library would sleep 31 s before its retry
    assert not result.success
    assert "wait 30 s" in result.output
    assert len(hub.calls("GET", "/api/models")) == 1


async def test_a_5xx_on_a_paginated_listing_is_not_retried_away(hub: FakeHub) -> None:
    hub.add_repo("test-user/demo", files={"README.md": "hi"})
    hub.inject(503, match="/tree/", message="overloaded")  # once: a retry would succeed
    result = await call(repo_files_tool(FAST), operation="list", repo_id="test-user/demo")
    assert not result.success
    assert "internal error (503): overloaded" in result.output
    assert len(hub.calls("GET", "/tree/")) == 1


async def test_network_down_is_reported_without_the_librarys_backoff(
    monkeypatch: pytest.MonkeyPatch, fresh_client: None
) -> None:
    url = closed_port_url()
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    started = time.monotonic()
    result = await call(search_tool(FAST), query="bert")
    assert time.monotonic() - started < 0.9  # the library's first wait alone is 1 s
    assert result.output.startswith(f"Cannot reach {url}"), result.output


async def test_behind_a_proxy_the_retry_of_a_failed_request_is_refused(
    monkeypatch: pytest.MonkeyPatch, fresh_client: None, hub: FakeHub
) -> None:
    # With a proxy in the environment the library's own transport is kept (so
    # the proxy is used); a dead proxy is then reported after one library wait.
    proxy = closed_port_url()
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("http_proxy", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    started = time.monotonic()
    result = await call(search_tool(FAST), query="bert")
    assert time.monotonic() - started < 5  # five library retries would take 15 s
    assert not result.success
    assert result.output.startswith("Cannot reach"), result.output
    assert hub.calls("GET", "/api/models") == []


async def test_the_users_own_calls_keep_the_librarys_retries(hub: FakeHub) -> None:
    hub.add_repo("test-user/demo", files={"README.md": "hi"})
    api = make_api(hub.token)
    await in_thread(lambda: None, deadline=5)  # our policy is installed by now
    hub.inject(503, match="/tree/", message="overloaded")  # once
    # 2.x retries a listing's first page itself (http_backoff); 1.x raised at once.
    import inspect

    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.utils import _pagination

    library_retries = "session.get(path" not in inspect.getsource(_pagination.paginate)
    if library_retries:
        files = [f.path for f in api.list_repo_tree("test-user/demo")]  # not inside ours()
        assert "README.md" in files
        assert len(hub.calls("GET", "/tree/")) == 2  # the library retried, as it does
    else:
        with pytest.raises(HfHubHTTPError):
            list(api.list_repo_tree("test-user/demo"))
        assert len(hub.calls("GET", "/tree/")) == 1
        # and the library's own retrying helper is untouched by our policy
        from huggingface_hub.utils import http_backoff

        hub.inject(503, match="/tree/", message="overloaded")
        url = f"{hub.url}/api/models/test-user/demo/tree/main"
        response = http_backoff("GET", url, base_wait_time=0.01, max_wait_time=0.02)
        assert response.status_code == 200
        assert len(hub.calls("GET", "/tree/")) == 3


async def test_a_call_inside_ours_sees_the_first_answer(hub: FakeHub) -> None:
    hub.add_repo("test-user/demo", files={"README.md": "hi"})
    api = make_api(hub.token)
    hub.inject(503, match="/tree/")

    def listing() -> list[str]:
        return [f.path for f in api.list_repo_tree("test-user/demo")]

    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as raised:
        await in_thread(listing, deadline=5)
    assert raised.value.response.status_code == 503
    # and the next call gets the (now healthy) answer
    assert await in_thread(listing, deadline=5) == ["README.md"]


def test_the_http_module_is_the_one_huggingface_hub_is_built_on() -> None:
    import huggingface_hub
    from huggingface_hub.utils import get_session

    module = hub_http.http_module()
    assert isinstance(get_session(), module.Client)
    major = int(huggingface_hub.__version__.split(".")[0])
    assert module.__name__ == ("httpx2" if major >= 2 else "httpx")

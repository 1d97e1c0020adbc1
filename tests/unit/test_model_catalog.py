"""The router's catalog: reading it (five-minute copy), checking ids against it,
the suggestions `%intern model` lists, and its context length feeding
compaction. Against the scripted server's `GET /v1/models`."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from ml_intern_jupyter.agent import catalog as cat
from tests.agent_harness import make_session, run_input
from tests.fakes.llm_server import FakeLLMServer, Reply, router_provider


@pytest.fixture(autouse=True)
def _fresh_catalog() -> Iterator[None]:
    for d in (cat._catalogs, cat._fetched_at, cat._catalog_failed_at, cat._last_error):
        d.clear()
    yield
    for d in (cat._catalogs, cat._fetched_at, cat._catalog_failed_at, cat._last_error):
        d.clear()


CATALOG: dict[str, dict[str, Any]] = {
    "moonshotai/Kimi-K2.6": {
        "providers": [
            router_provider("novita", input=0.6, output=2.5, context=262144),
            router_provider("together", input=1.0, output=3.0, context=131072),
        ]
    },
    "zai-org/GLM-4.6": {
        "providers": [
            router_provider("zai", input=0.5, output=2.0, tools=True),
            router_provider("cheapo", input=0.1, output=0.1, tools=False),
        ]
    },
    "org/no-tools": {"providers": [router_provider("solo", tools=False)]},
    "org/offline": {"providers": [router_provider("gone", status="offline")]},
    "org/unknown-tools": {"providers": [router_provider("quiet", tools=None, input=None)]},
    "other/popular": {
        "providers": [router_provider(n) for n in ("a", "b", "c")],
    },
}


def found() -> dict[str, cat.ModelInfo]:
    return cat.models({k: v["providers"] for k, v in CATALOG.items()})


# ------------------------------------------------------------------ checking


def test_an_unknown_id_gets_close_matches() -> None:
    result = cat.check("moonshotai/Kimi-K2.5", found())
    assert not result.known and result.close[0] == "moonshotai/Kimi-K2.6"
    assert cat.check("MOONSHOTAI/kimi-k2.6", found()).close[0] == "moonshotai/Kimi-K2.6"
    # The same model under another org is found by its name.
    assert "zai-org/GLM-4.6" in cat.check("THUDM/GLM-4.6", found()).close
    assert cat.check("nobody/nothing-alike-xyz", found()).close == []


@pytest.mark.parametrize(
    ("model_id", "warning"),
    [
        (
            "moonshotai/Kimi-K2.6:groq",
            "Provider 'groq' does not serve moonshotai/Kimi-K2.6 (served by: novita, together).",
        ),
        ("org/offline:gone", "Provider 'gone' lists org/offline but it is not live (offline)."),
        ("org/offline", "No provider serves org/offline live right now."),
        ("org/no-tools", "No live provider of org/no-tools supports tool calls"),
        ("zai-org/GLM-4.6:cheapo", "zai-org/GLM-4.6 on 'cheapo' does not support tool calls"),
        ("zai-org/GLM-4.6", "(cheapo do not); pin one that does, e.g. zai-org/GLM-4.6:zai."),
    ],
)
def test_warnings_for_providers_and_tool_support(model_id: str, warning: str) -> None:
    result = cat.check(model_id, found())
    assert result.known
    assert any(warning in w for w in result.warnings), result.warnings


@pytest.mark.parametrize(
    "model_id",
    ["moonshotai/Kimi-K2.6", "moonshotai/Kimi-K2.6:NOVITA", "org/unknown-tools:cheapest"],
)
def test_good_ids_have_no_warnings_and_list_their_providers(model_id: str) -> None:
    result = cat.check(model_id, found())
    assert result.known and result.warnings == [] and result.providers
    line = cat.check("moonshotai/Kimi-K2.6:novita", found()).providers[0].describe()
    assert line == "novita: $0.6 in / $2.5 out per M tokens · 262,144 context · tools"


def test_suggestions_put_the_current_and_packaged_models_first() -> None:
    ids = [m.id for m in cat.suggested(found(), "org/no-tools:solo")]
    # current, packaged suggestions the router serves, then tool-capable ones by provider count.
    assert ids == ["org/no-tools", "moonshotai/Kimi-K2.6", "zai-org/GLM-4.6", "other/popular"]
    assert len(cat.suggested(found(), None, limit=2)) == 2
    info = found()["moonshotai/Kimi-K2.6"]
    assert info.cheapest is not None and info.cheapest.name == "novita"
    assert info.context_length == 262144 and info.tools is True
    assert found()["org/unknown-tools"].tools is None


# ------------------------------------------------------------------ reading


async def test_the_catalog_is_kept_five_minutes_then_read_again(
    fake_llm: FakeLLMServer,
) -> None:
    fake_llm.catalog = CATALOG
    first = await cat.fetch(fake_llm.url, "hf_x")
    assert first is not None and "zai-org/GLM-4.6" in first
    await cat.fetch(fake_llm.url, "hf_x")
    assert fake_llm.catalog_requests == 1
    cat._fetched_at[fake_llm.url] -= cat.CATALOG_TTL_S + 1  # five minutes later
    assert cat.start_fetch(fake_llm.url, "hf_x") is not None  # the calls' own read, too
    await cat.fetch(fake_llm.url, "hf_x")
    assert fake_llm.catalog_requests == 2


async def test_an_unreachable_catalog_says_why_and_keeps_a_stale_copy(
    fake_llm: FakeLLMServer,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    assert await cat.fetch(closed, "") is None
    assert "Connect" in cat.last_error(closed)
    cat._catalogs[closed] = {"org/m": []}
    cat._fetched_at[closed] = -1e9  # stale
    assert await cat.fetch(closed, "") == {"org/m": []}


async def test_the_catalog_is_read_without_a_token(fake_llm: FakeLLMServer) -> None:
    fake_llm.catalog = CATALOG
    assert await cat.fetch(fake_llm.url, "") is not None


# ----------------------------------------------------- context -> compaction


async def test_the_catalogs_context_length_drives_compaction(fake_llm: FakeLLMServer, tmp_path):
    fake_llm.catalog = {"org/small": {"providers": [router_provider("p", context=2000)]}}
    env = {"ML_INTERN_ROUTER_BASE_URL": fake_llm.url, "HF_TOKEN": "hf_x"}
    fake_llm.script(
        Reply(content="a1"),
        Reply(content="a2"),
        Reply(content="a3", usage=(1900, 5)),  # past 90% of 2,000
        Reply(content="The summary."),
        Reply(content="a4"),
    )
    session, rec = make_session(
        fake_llm, tmp_path, env=env, model_name="org/small", context_window=None
    )
    for text in ("one", "two", "three"):
        await run_input(session, text)
    assert session.llm.context_window() == 2000 and not rec.of("compacted")
    await run_input(session, "four")
    assert len(rec.of("compacted")) == 1
    assert rec.of("turn_complete")[-1].final_response == "a4"


async def test_a_configured_context_window_wins_over_the_catalog(fake_llm: FakeLLMServer, tmp_path):
    fake_llm.catalog = {"org/small": {"providers": [router_provider("p", context=2000)]}}
    env = {"ML_INTERN_ROUTER_BASE_URL": fake_llm.url, "HF_TOKEN": "hf_x"}
    fake_llm.script(Reply(content="a1", usage=(1900, 5)), Reply(content="a2"))
    session, rec = make_session(
        fake_llm, tmp_path, env=env, model_name="org/small", context_window=100_000
    )
    await run_input(session, "one")
    await run_input(session, "two")
    assert session.llm.context_window() == 100_000 and not rec.of("compacted")


# ------------------------------------------------------------------ picker


def test_the_picker_table_sets_the_model_it_was_clicked_for() -> None:
    from ml_intern_jupyter.notebook.view.model_picker import Picker, table_text

    chosen: list[str] = []

    def choose(model_id: str) -> str:
        chosen.append(model_id)
        return f"Model for session 'default' is now {model_id}."

    models = cat.suggested(found(), "zai-org/GLM-4.6")
    picker = Picker(models, "zai-org/GLM-4.6", choose, found())
    assert list(picker.buttons) == [m.id for m in models]
    assert "● " in picker.rows["zai-org/GLM-4.6"].children[0].value
    picker.buttons["moonshotai/Kimi-K2.6"].click()
    assert chosen == ["moonshotai/Kimi-K2.6"]
    assert "is now moonshotai/Kimi-K2.6." in picker.status.value
    picker.policy.value = "cheapest"
    picker.buttons["zai-org/GLM-4.6"].click()
    assert chosen[-1] == "zai-org/GLM-4.6:cheapest"
    assert "Warning: Not every provider" in picker.status.value

    def refuse(model_id: str) -> str:
        raise ValueError("Invalid config value for 'model_name'")

    picker.choose = refuse
    picker.buttons["other/popular"].click()
    assert "Invalid config value" in picker.status.value

    text = table_text(models, "zai-org/GLM-4.6:zai")
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["model", "live"]
    assert any(line.startswith("● zai-org/GLM-4.6") for line in lines)

"""web_search and fetch_url against a fake search backend and fake pages on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ml_intern_jupyter.tools import web
from ml_intern_jupyter.tools.web import WebSettings, fetch_url_tool, html_to_text, web_search_tool
from tests.fakes.web_server import FakeWeb
from tests.hub_harness import call, closed_port_url

RESULTS = [
    ("SFT with TRL", "https://huggingface.co/docs/trl/sft_trainer", "Supervised fine-tuning"),
    ("TRL issue: SFT OOM", "https://github.com/huggingface/trl/issues/1", "SFT runs out of memory"),
    ("SFT spam", "https://www.spam.example/sft", "buy sft"),
    *[(f"SFT post {n}", f"https://blog{n}.example/sft", "sft notes") for n in range(10)],
]
OPEN = WebSettings(timeout_s=5, allow_private=True)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWeb]:
    server = FakeWeb().start()
    server.results = list(RESULTS)
    monkeypatch.setenv("ML_INTERN_SEARCH_URL", server.url + "/html/")
    monkeypatch.delenv("BRAVE_SEARCH_API_KEY", raising=False)
    yield server
    server.stop()


async def test_keyless_search_parses_results_and_caps_at_eight(fake: FakeWeb) -> None:
    result = await call(web_search_tool(OPEN), query="sft")
    assert result.success, result.output
    assert "1. SFT with TRL\n   https://huggingface.co/docs/trl/sft_trainer" in result.output
    assert "Supervised fine-tuning" in result.output
    assert result.output.count("\n   https://") == 8
    assert fake.calls("/html")[0].param("q") == "sft"


async def test_domain_filters(fake: FakeWeb) -> None:
    only = await call(web_search_tool(OPEN), query="sft", allowed_domains=["github.com"])
    assert "github.com/huggingface/trl/issues/1" in only.output
    assert "huggingface.co/docs" not in only.output
    assert fake.calls("/html")[-1].param("q") == "sft site:github.com"
    blocked = await call(web_search_tool(OPEN), query="sft", blocked_domains=["spam.example"])
    assert "spam.example" not in blocked.output and "SFT with TRL" in blocked.output


async def test_no_results_message(fake: FakeWeb) -> None:
    result = await call(web_search_tool(OPEN), query="zzzz")
    assert result.success and "No web results for 'zzzz'" in result.output


async def test_keyed_backend_is_used_when_its_key_is_set(
    fake: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRAVE_SEARCH_API_KEY", fake.brave_key)
    monkeypatch.setenv("BRAVE_SEARCH_API_URL", fake.url + "/brave")
    result = await call(web_search_tool(OPEN), query="oom")
    assert "TRL issue: SFT OOM" in result.output
    assert fake.calls("/brave") and not fake.calls("/html")
    monkeypatch.setenv("BRAVE_SEARCH_API_KEY", "wrong")
    bad = await call(web_search_tool(OPEN), query="oom")
    assert not bad.success and "Brave Search refused the request (401)" in bad.output
    assert "BRAVE_SEARCH_API_KEY" in bad.output


async def test_search_rate_limit_and_unreachable(
    fake: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.inject(429, "/html", headers={"Retry-After": "30"}, times=1)
    limited = await call(web_search_tool(OPEN), query="sft")
    assert "rate limit reached (429); the server asks to wait 30 s" in limited.output
    monkeypatch.setenv("ML_INTERN_SEARCH_URL", closed_port_url())
    down = await call(web_search_tool(OPEN), query="sft")
    assert down.output.startswith("Cannot reach the web search backend")


PAGE = """<!doctype html><html><head><title>Fine-tuning guide</title>
<script>var x = 1;</script><style>body{}</style></head><body>
<nav>Home | Docs</nav><h1>Fine-tuning</h1><p>Use <b>LoRA</b> for small GPUs.</p>
<ul><li>rank 16</li><li>alpha 32</li></ul><pre>trainer.train()
  # indented</pre></body></html>"""


def test_html_to_text_keeps_structure_and_drops_scripts() -> None:
    text = html_to_text(PAGE)
    assert text.startswith("# Fine-tuning")  # the h1 (title not repeated)
    assert "Use LoRA for small GPUs." in text
    assert "- rank 16\n- alpha 32" in text
    assert "```\ntrainer.train()\n  # indented\n```" in text
    assert "var x" not in text and "body{}" not in text and "Home | Docs" not in text


async def test_fetch_url_reads_html_as_text(fake: FakeWeb) -> None:
    fake.pages["/guide"] = ("text/html; charset=utf-8", PAGE)
    result = await call(fetch_url_tool(OPEN), url=fake.url + "/guide")
    assert result.success, result.output
    assert "Use LoRA for small GPUs." in result.output and "<p>" not in result.output


async def test_fetch_url_refuses_loopback_by_default_without_a_request(fake: FakeWeb) -> None:
    fake.pages["/guide"] = ("text/html", PAGE)
    result = await call(fetch_url_tool(WebSettings(timeout_s=5)), url=fake.url + "/guide")
    assert not result.success
    assert "Refused: 127.0.0.1 resolves to 127.0.0.1, which is not a public address" in (
        result.output
    )
    assert not fake.calls("/guide")


@pytest.mark.parametrize(
    "url",
    ["http://10.1.2.3/x", "http://169.254.169.254/latest", "http://[::1]/", "http://0.0.0.0/"],
)
async def test_fetch_url_refuses_private_addresses(url: str) -> None:
    result = await call(fetch_url_tool(WebSettings(timeout_s=2)), url=url)
    assert not result.success and "not a public address" in result.output


async def test_fetch_url_checks_again_after_a_redirect(
    fake: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = web._resolve

    async def resolve(host: str, port: int) -> list[str]:
        # "localhost" passes as public; the redirect's 127.0.0.1 is checked for real
        return ["93.184.216.34"] if host == "localhost" else await real(host, port)

    monkeypatch.setattr(web, "_resolve", resolve)
    fake.redirects["/hop"] = fake.url + "/secret"
    fake.pages["/secret"] = ("text/plain", "the secret")
    start = f"http://localhost:{fake.port}/hop"
    result = await call(fetch_url_tool(WebSettings(timeout_s=5)), url=start)
    assert not result.success and "not a public address" in result.output
    assert fake.calls("/hop") and not fake.calls("/secret")


async def test_fetch_url_follows_redirects_when_allowed(fake: FakeWeb) -> None:
    fake.redirects["/old"] = "/new"
    fake.pages["/new"] = ("text/plain", "new place")
    result = await call(fetch_url_tool(OPEN), url=fake.url + "/old")
    assert result.output.startswith(f"{fake.url}/new (redirected from {fake.url}/old)")
    assert "new place" in result.output


async def test_fetch_url_size_cap_and_paging(fake: FakeWeb) -> None:
    fake.pages["/big"] = ("text/plain", "x" * 50_000)
    capped = WebSettings(timeout_s=5, allow_private=True, max_bytes=10_000)
    result = await call(fetch_url_tool(capped), url=fake.url + "/big", max_chars=4000)
    assert "[Characters 0-4,000 of 10,000; read on with start_char=4000.]" in result.output
    assert "[The page was cut at 10,000 bytes.]" in result.output
    more = await call(fetch_url_tool(capped), url=fake.url + "/big", start_char=9000)
    assert more.output.count("x") == 1000


async def test_fetch_url_refuses_binary_and_reports_404(fake: FakeWeb) -> None:
    fake.pages["/paper.pdf"] = ("application/pdf", b"%PDF-1.4")
    pdf = await call(fetch_url_tool(OPEN), url=fake.url + "/paper.pdf")
    assert not pdf.success and "is application/pdf, not a text page" in pdf.output
    missing = await call(fetch_url_tool(OPEN), url=fake.url + "/nope")
    assert not missing.success and "Not found on 127.0.0.1 (404)" in missing.output


async def test_fetch_url_bad_scheme() -> None:
    result = await call(fetch_url_tool(OPEN), url="file:///etc/passwd")
    assert not result.success and "Only http and https URLs" in result.output

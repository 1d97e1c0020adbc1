"""`%intern model` in a real kernel: the router's live catalog (the fake
server's `GET /v1/models`) as a widget table, a click on **Use** sets the
model; under nbclient the same command prints a text table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakes.llm_server import FakeLLMServer, router_provider
from tests.kernel.helpers import KernelHarness, html_text, output_text, run_notebook

CATALOG = {
    "moonshotai/Kimi-K2.6": {
        "providers": [router_provider("novita", input=0.6, output=2.5, context=262144)]
    },
    "zai-org/GLM-4.6": {
        "providers": [router_provider("zai", input=0.5, output=2.0, context=200000)]
    },
}


def _root(kernel: KernelHarness, msg_id: str) -> Any:
    def find() -> Any:
        for m in kernel.outputs(msg_id):
            ref = m["content"].get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if ref and ref["model_id"] in kernel.widgets.widgets:
                return kernel.widgets.widgets[ref["model_id"]]
        return None

    return kernel.wait_for(find, 20, "the model table")


def test_model_lists_the_catalog_and_use_sets_the_model(
    kernel: KernelHarness, llm_server: FakeLLMServer, session_name: str
) -> None:
    llm_server.catalog = CATALOG
    result = kernel.run_ok(f"%intern -s {session_name} model")
    assert "Model: vllm/test-model" in kernel.text_of(result["msg_id"])
    root = _root(kernel, result["msg_id"])
    rows = {}
    for row in kernel.widgets.children(root):
        cells = kernel.widgets.children(row)
        if cells and cells[-1].model == "ButtonModel":
            rows[html_text(cells[0].state.get("value", ""))] = (row, cells)
    assert set(rows) >= {"moonshotai/Kimi-K2.6", "zai-org/GLM-4.6"}
    row, cells = rows["zai-org/GLM-4.6"]
    text = kernel.widgets.descendants_html(row)
    assert "zai" in text and "$0.5 / $2" in text and "200k" in text and "yes" in text

    kernel.click(cells[-1])
    status = kernel.wait_for(
        lambda: [
            w
            for w in kernel.widgets.descendants(root)
            if w.model == "HTMLModel" and "is now zai-org/GLM-4.6" in w.state.get("value", "")
        ],
        20,
        "the picked model in the table's status line",
    )
    assert f"Model for session &#x27;{session_name}&#x27;" in status[0].state["value"]
    after = kernel.run_ok(f"%intern -s {session_name} status")
    assert "model zai-org/GLM-4.6" in kernel.text_of(after["msg_id"])


def test_model_prints_a_text_table_under_nbclient(tmp_path: Path) -> None:
    with FakeLLMServer() as server:
        server.catalog = CATALOG
        outputs = run_notebook(
            tmp_path,
            server.url,
            "%load_ext ml_intern_jupyter",
            "%intern model",
            "%intern model zai-org/GLM-4.7",
        )
    listing = output_text(outputs[1])
    assert "Suggested models (router catalog" in listing
    assert any(
        "moonshotai/Kimi-K2.6" in line and "novita" in line and "262k" in line
        for line in listing.splitlines()
    ), listing
    assert "Did you mean: zai-org/GLM-4.6?" in output_text(outputs[2])

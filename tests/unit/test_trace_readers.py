"""Exported traces read by two Claude Code transcript readers from PyPI.

`claude-code-log` validates every line with its own pydantic models and drops
(prints and skips) a line that does not fit; `claude-code-transcripts` renders
whatever it finds. Both run offline on a file: no test here reaches the network.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from ml_intern_jupyter.agent.context import History
from ml_intern_jupyter.store.base import SessionRecord
from ml_intern_jupyter.store.sqlite import SqliteStore
from ml_intern_jupyter.traces.export import export_session

claude_code_log = pytest.importorskip("claude_code_log.converter")
claude_code_transcripts = pytest.importorskip("claude_code_transcripts")

SID = "0a1b2c3d4e5f"
START = 1_750_000_000.0
PROMPT = "Plot the training loss of run-7"
NOTE = "[SYSTEM: The plan still has unfinished items: check the eval. Continue.]"
FAILED = "Traceback (most recent call last): FileNotFoundError: run-8/loss.csv"
RESULT = "step,loss\n1,2.31\n2,1.87"
ANSWER = "The loss falls from 2.31 to 1.87 over two steps."
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).decode()


def session_messages() -> list[dict[str, Any]]:
    """An 11-message session as the agent's history records it."""
    h = History("You are the intern.")
    h.add_user(PROMPT)
    calls = [{"id": "call_a", "name": "python_exec", "arguments": '{"code": "load(8)"}'}]
    h.add_assistant("Loading it.", calls, usage=(1200, 40), finish_reason="tool_calls")
    h.add_tool_result("call_a", "python_exec", FAILED, success=False)
    calls = [{"id": "call_b", "name": "python_exec", "arguments": '{"code": "load(7)"}'}]
    h.add_assistant("Wrong run; run-7 then.", calls, usage=(1350, 35), finish_reason="tool_calls")
    h.add_tool_result("call_b", "python_exec", RESULT, success=True)
    h.add_assistant(ANSWER, usage=(1500, 22), finish_reason="stop")
    h.add_user(NOTE)
    h.append(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Here is the plot I made"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        }
    )
    h.add_assistant("It is a falling curve.", usage=(1700, 9), finish_reason="stop")
    h.add_user("thanks")
    h.add_assistant("You are welcome.", usage=(1720, 5), finish_reason="stop")
    for i, m in enumerate(h.messages):
        m["_ts"] = START + i
    return h.messages


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    store = SqliteStore.open(tmp_path / "home")
    store.create_session(SessionRecord(id=SID, model="vllm/test-model", created=START))
    store.append_messages(SID, 0, 0, session_messages())
    out = export_session(store, SID, tmp_path / "trace.jsonl", "claude_code")
    store.close()
    return out


def test_the_session_is_the_one_described(exported: Path) -> None:
    messages = session_messages()
    assert len(messages) == 12 and messages[0]["role"] == "system"  # 11 after the prompt
    lines = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 11


def test_claude_code_log_keeps_every_line(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = claude_code_log.load_transcript(exported, silent=True)
    printed = capsys.readouterr().out
    assert "validation error" not in printed and "error" not in printed.lower()
    assert len(entries) == 11  # zero dropped lines
    for entry in entries:
        assert uuid.UUID(entry.uuid).version == 8
        assert uuid.UUID(entry.sessionId).version == 5
    by_type = [type(e).__name__ for e in entries]
    assert by_type.count("AssistantTranscriptEntry") == 5

    assistant = [e for e in entries if type(e).__name__ == "AssistantTranscriptEntry"]
    assert [e.message.usage.input_tokens for e in assistant] == [1200, 1350, 1500, 1700, 1720]
    assert [e.message.usage.output_tokens for e in assistant] == [40, 35, 22, 9, 5]
    assert [e.message.stop_reason for e in assistant] == [
        "tool_use",
        "tool_use",
        "end_turn",
        "end_turn",
        "end_turn",
    ]
    assert len({e.message.id for e in assistant}) == 5
    results = [
        c
        for e in entries
        for c in getattr(e.message, "content", []) or []
        if type(c).__name__ == "ToolResultContent"
    ]
    assert [r.is_error for r in results] == [True, False]
    meta = [e for e in entries if getattr(e, "isMeta", None)]
    assert len(meta) == 1 and NOTE in json.dumps(meta[0].model_dump())
    images = [
        c
        for e in entries
        for c in getattr(e.message, "content", []) or []
        if type(c).__name__ == "ImageContent"
    ]
    assert len(images) == 1 and images[0].source.data == PNG

    html_path = claude_code_log.convert_jsonl_to_html(
        exported, tmp_path / "log.html", use_cache=False, silent=True
    )
    page = html_path.read_text(encoding="utf-8")
    for text in (PROMPT, "thanks", "python_exec", "FileNotFoundError", "1,2.31", ANSWER):
        assert text in page, text
    assert PNG in page


def test_claude_code_transcripts_shows_everything_with_errors_and_images(
    exported: Path, tmp_path: Path
) -> None:
    # Version 0.6 has no place for token usage, and its pages ignore `isMeta`
    # (only its session summary reads it): the agent's note is there, as a
    # user turn. claude-code-log, above, shows both.
    out = tmp_path / "transcripts"
    claude_code_transcripts.generate_html(exported, out, github_repo="owner/repo")
    pages = "".join(p.read_text(encoding="utf-8") for p in sorted(out.glob("page-*.html")))
    for text in (PROMPT, "thanks", "python_exec", "FileNotFoundError", "1,2.31", ANSWER):
        assert text in pages, text
    assert pages.count("tool-result tool-error") == 1  # the failed call, shown as failed
    assert f"data:image/png;base64,{PNG}" in pages
    assert NOTE in pages
    # The session's title is the user's first prompt, never the agent's note.
    summary = claude_code_transcripts.get_session_summary(exported)
    assert summary == PROMPT


def test_a_catch_up_seed_reads_as_the_summary_a_continued_session_starts_from(
    tmp_path: Path,
) -> None:
    from ml_intern_jupyter.agent.context import RESTORE_NOTE

    seed = RESTORE_NOTE.format(summary="I loaded run-7 and plotted its loss.")
    h = History("You are the intern.")
    h.add_user(seed)
    h.add_assistant("Understood.", usage=(900, 3), finish_reason="stop")
    h.add_user(PROMPT)
    h.add_assistant(ANSWER, usage=(1000, 12), finish_reason="stop")
    for i, m in enumerate(h.messages):
        m["_ts"] = START + i
    store = SqliteStore.open(tmp_path / "home")
    store.create_session(SessionRecord(id=SID, model="vllm/test-model", created=START))
    store.append_messages(SID, 0, 0, h.messages)
    exported = export_session(store, SID, tmp_path / "trace.jsonl", "claude_code")
    store.close()
    first = json.loads(exported.read_text(encoding="utf-8").splitlines()[0])
    assert first["isMeta"] is True and first["isCompactSummary"] is True

    out = tmp_path / "transcripts"
    claude_code_transcripts.generate_html(exported, out, github_repo="owner/repo")
    pages = "".join(p.read_text(encoding="utf-8") for p in sorted(out.glob("page-*.html")))
    assert "Session continuation summary" in pages  # shown folded, as Claude Code's own
    assert "I loaded run-7 and plotted its loss." in pages
    index = (out / "index.html").read_text(encoding="utf-8")
    assert PROMPT in index
    assert "I loaded run-7" not in index  # not listed among the user's prompts
    assert claude_code_transcripts.get_session_summary(exported) == PROMPT

"""`export_session`: a saved session to Claude Code JSONL, a markdown transcript, or JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_intern_jupyter.store import SessionRecord, SqliteStore, UnknownSessionError
from ml_intern_jupyter.traces.claude_code import session_uuid, to_claude_code_jsonl
from ml_intern_jupyter.traces.export import (
    EXTENSIONS,
    FORMATS,
    TOOL_RESULT_LINES,
    export_session,
    render_export,
)
from ml_intern_jupyter.traces.hf_session import HARNESS, to_hf_session_jsonl

SID = "sess-export"
SECRET = "sk-ant-" + "a1B2c3D4e5F6g7H8i9J0kLmNoPq"
HF_SECRET = "hf_" + "Zy9XwVuTsRqPoNmLkJiHgFeDcBa876543"
STARTED = 1_684_367_940.0  # 2023-05-17 23:59 UTC
LONG_RESULT = "\n".join(f"epoch {i} loss={1 / (i + 1):.3f}" for i in range(100))


def history() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "SYSTEM PROMPT: be terse."},
        {"role": "user", "content": f"Fine-tune it. My key: ANTHROPIC_API_KEY={SECRET}"},
        {
            "role": "assistant",
            "content": "Starting the run.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {
                        "name": "bash",
                        "arguments": json.dumps({"cmd": f"train.py --token {HF_SECRET}"}),
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": LONG_RESULT},
        {"role": "user", "content": "[SYSTEM: REPETITION GUARD] hidden note for the model"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c2", "type": "function", "function": {"name": "read", "arguments": "{"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c2", "content": "```python\nprint(1)\n```"},
        {"role": "user", "content": [{"type": "text", "text": "Look:"}, {"type": "image_url"}]},
        {"role": "assistant", "content": "All done: loss 0.01."},
    ]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore.open(tmp_path / "home")
    s.create_session(
        SessionRecord(
            id=SID,
            title="Fine-tune BERT",
            model="vllm/test-model",
            notebook="a.ipynb",
            created=STARTED,
        )
    )
    s.append_messages(SID, 0, 0, history())
    yield s
    s.close()


def test_claude_code_export_is_the_trace(store: SqliteStore, tmp_path: Path) -> None:
    out = export_session(store, SID, tmp_path / "t.jsonl", "claude_code")
    assert out == tmp_path / "t.jsonl"
    expected = to_claude_code_jsonl(
        store.load_messages(SID), session_id=SID, model="vllm/test-model", session_start=STARTED
    )
    assert out.read_text(encoding="utf-8") == expected
    assert all(json.loads(line)["sessionId"] == session_uuid(SID) for line in expected.splitlines())


def test_hf_session_export(store: SqliteStore, tmp_path: Path) -> None:
    out = export_session(store, SID, tmp_path / "t.jsonl", "hf_session")
    text = out.read_text(encoding="utf-8")
    assert text == to_hf_session_jsonl(
        store.load_messages(SID),
        session_id=SID,
        model="vllm/test-model",
        session_start=STARTED,
        name="Fine-tune BERT",
    )
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["type"] == "session" and lines[0]["harness"] == HARNESS
    assert lines[0]["id"] == SID and lines[0]["name"] == "Fine-tune BERT"
    roles = [line["message"]["role"] for line in lines[1:]]
    # No system prompt; the [SYSTEM: ...] note is a system line, not a user prompt.
    assert roles == [
        "user",
        "assistant",
        "tool",
        "system",
        "assistant",
        "tool",
        "user",
        "assistant",
    ]
    assert export_session(store, SID, tmp_path, "hf_session") == tmp_path / f"{SID}.jsonl"


def test_markdown_transcript(store: SqliteStore, tmp_path: Path) -> None:
    text = export_session(store, SID, tmp_path / "t.md", "markdown").read_text(encoding="utf-8")
    assert text.startswith("# Fine-tune BERT\n")
    assert "- Model: `vllm/test-model`" in text and "- Started: 2023-05-17 23:59 UTC" in text
    assert "## User\n\nFine-tune it." in text
    assert "## Assistant\n\nStarting the run." in text
    assert '**Tool call** `bash`\n\n```json\n{\n  "cmd": "train.py --token' in text
    assert "**Tool call** `read`\n\n```json\n{\n```" in text  # malformed arguments shown as-is
    assert "**Tool result** `bash`" in text
    # Tool results are cut short.
    assert f"epoch {TOOL_RESULT_LINES - 1} " in text and f"epoch {TOOL_RESULT_LINES} " not in text
    assert "truncated: 100 lines" in text
    # A result holding a fence gets a longer fence around it.
    assert "````\n```python\nprint(1)\n```\n````" in text
    assert "Look:\n[image]" in text
    assert "All done: loss 0.01." in text
    # System prompt and [SYSTEM: ...] notes are hidden.
    assert "SYSTEM PROMPT" not in text and "REPETITION GUARD" not in text


def test_json_export_has_record_and_messages(store: SqliteStore, tmp_path: Path) -> None:
    doc = json.loads(export_session(store, SID, tmp_path / "t.json", "json").read_text())
    assert doc["format"] == "ml-intern-session" and doc["version"] == 1
    assert doc["session"]["id"] == SID and doc["session"]["title"] == "Fine-tune BERT"
    assert doc["session"]["created"] == STARTED and doc["session"]["model"] == "vllm/test-model"
    assert doc["messages"] == store.load_messages(SID)
    assert len(doc["messages"]) == len(history())


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_scrubbed(store: SqliteStore, tmp_path: Path, fmt: str) -> None:
    written = export_session(store, SID, tmp_path / f"out.{fmt}", fmt).read_text()
    # Scrubbed by export itself too, not only because the store scrubs on write:
    record = store.get_session(SID)
    assert record is not None
    raw = render_export(fmt, record, history()).decode()
    for text in (written, raw):
        assert SECRET not in text and HF_SECRET not in text
        assert "[REDACTED]" in text


def test_directory_target_and_missing_parents(store: SqliteStore, tmp_path: Path) -> None:
    assert export_session(store, SID, tmp_path, "markdown") == tmp_path / f"{SID}.md"
    nested = tmp_path / "exports" / "2023" / "s.json"
    assert export_session(store, SID, nested, "json") == nested
    assert nested.is_file()
    assert not list(nested.parent.glob(".*.tmp"))  # no temp file left behind


def test_the_magic_offers_every_format() -> None:
    from ml_intern_jupyter.notebook.commands.parse import EXPORT_FORMATS

    assert EXPORT_FORMATS == FORMATS
    assert set(EXTENSIONS) == set(FORMATS)


def test_unknown_format(store: SqliteStore, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Unknown export format 'html'; choose one of: "):
        export_session(store, SID, tmp_path / "x.html", "html")
    assert not (tmp_path / "x.html").exists()


def test_unknown_session(store: SqliteStore, tmp_path: Path) -> None:
    with pytest.raises(UnknownSessionError, match="No saved session with id 'nope'"):
        export_session(store, "nope", tmp_path / "x.md", "markdown")


def test_unwritable_path(store: SqliteStore, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="Cannot write the export to .*a-file/out.md"):
        export_session(store, SID, blocker / "out.md", "markdown")
    assert blocker.read_text() == "x"

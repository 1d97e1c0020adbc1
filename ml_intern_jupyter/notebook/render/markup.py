"""Markdown to HTML for the live view and the static transcript.

markdown-it-py (CommonMark + tables + strikethrough) with raw HTML disabled:
the model's text is never trusted as markup. Fenced code is highlighted
with Pygments into a few coarse CSS classes (keyword, string, comment,
number, name) so highlighted code stays small on the wire; `CSS` styles
them and is shipped once per view or transcript.
"""

from __future__ import annotations

import html
import json
from functools import lru_cache
from typing import Any

__all__ = ["CSS", "code_html", "compact_args", "escape", "markdown_html"]

ROOT_CLASS = "mlij"

CSS = f"""<style>
.{ROOT_CLASS} {{font-size: 13px; line-height: 1.45;}}
.{ROOT_CLASS} .mlij-md p {{margin: 0.3em 0;}}
.{ROOT_CLASS} pre {{background: rgba(127,127,127,0.08); padding: 6px 8px; border-radius: 4px;
  overflow-x: auto; margin: 0.3em 0; font-size: 12px; white-space: pre;}}
.{ROOT_CLASS} .mlij-head {{color: #555; font-size: 12px;}}
.{ROOT_CLASS} .mlij-card {{border-left: 3px solid #bbb; padding: 2px 8px; margin: 4px 0;}}
.{ROOT_CLASS} .mlij-ok {{border-left-color: #3a3;}}
.{ROOT_CLASS} .mlij-fail {{border-left-color: #c33;}}
.{ROOT_CLASS} .mlij-ask {{border-left-color: #e90;}}
.{ROOT_CLASS} .mlij-err {{color: #c33;}}
.{ROOT_CLASS} .mlij-research {{border-left-color: #7a6fd0;}}
.{ROOT_CLASS} .mlij-nested {{margin-left: 14px; padding-left: 6px; border-left: 1px dashed #bbb;}}
.{ROOT_CLASS} .mlij-research details > :not(summary) {{margin-left: 14px;}}
.{ROOT_CLASS} .mlij-dim {{color: #777; font-size: 12px;}}
.{ROOT_CLASS} ul.mlij-plan {{list-style: none; padding-left: 0.5em; margin: 0.3em 0;}}
.{ROOT_CLASS} .k {{color: #a626a4; font-weight: bold;}}
.{ROOT_CLASS} .s {{color: #50a14f;}}
.{ROOT_CLASS} .c {{color: #8a8a8a; font-style: italic;}}
.{ROOT_CLASS} .m {{color: #b76b01;}}
.{ROOT_CLASS} .f {{color: #4078f2;}}
.{ROOT_CLASS} .b {{color: #0184bc;}}
.{ROOT_CLASS} .gi {{color: #22863a;}}
.{ROOT_CLASS} .gd {{color: #cb2431;}}
</style>"""


def escape(text: str) -> str:
    return html.escape(text, quote=False)


@lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "highlight": _highlight})
    md.enable(["table", "strikethrough"])
    return md


def markdown_html(text: str) -> str:
    """Render markdown (untrusted) to HTML."""
    if not text:
        return ""
    return str(_markdown().render(text))


def _highlight(code: str, lang: str, _attrs: str) -> str:
    return code_html(code, lang)


# Pygments token type -> our coarse class, by the first part of its path.
_CLASSES = {
    ("Keyword",): "k",
    ("Operator", "Word"): "k",
    ("Literal", "String"): "s",
    ("Comment",): "c",
    ("Literal", "Number"): "m",
    ("Name", "Function"): "f",
    ("Name", "Class"): "f",
    ("Name", "Decorator"): "f",
    ("Name", "Builtin"): "b",
    ("Name", "Tag"): "k",
    ("Name", "Attribute"): "b",
    ("Generic", "Inserted"): "gi",
    ("Generic", "Deleted"): "gd",
}


def _css_class(ttype: Any) -> str | None:
    path = tuple(ttype)
    for size in (2, 1):
        cls = _CLASSES.get(path[:size])
        if cls:
            return cls
    return None


@lru_cache(maxsize=64)
def _lexer(lang: str) -> Any:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(lang, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def code_html(code: str, lang: str = "") -> str:
    """Highlighted (escaped) HTML for a code block's content, without the <pre>."""
    lexer = _lexer(lang.strip().lower()) if lang and lang.strip() else None
    if lexer is None:
        return escape(code)
    from pygments import lex

    parts: list[str] = []
    run_class: str | None = None
    run: list[str] = []

    def close() -> None:
        if run:
            text = escape("".join(run))
            parts.append(f'<span class="{run_class}">{text}</span>' if run_class else text)
            run.clear()

    for ttype, value in lex(code, lexer):
        cls = _css_class(ttype)
        if cls != run_class and not value.isspace():
            close()
            run_class = cls
        run.append(value)
    close()
    return "".join(parts)


def compact_args(arguments: dict[str, Any], limit: int = 120) -> str:
    """Tool arguments on one short line: the main value for one-argument calls, else JSON."""
    if not arguments:
        return ""
    if len(arguments) == 1:
        (value,) = arguments.values()
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    else:
        text = json.dumps(arguments, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""`%intern model`: the router's live catalog, and checking an id against it.

With no id the command lists the suggested models (providers, cheapest live
price, context length, tool support): a widget table with a **Use** button
per row in a notebook, a text table otherwise. **Use** does what
`%intern model ID` does (a `configure` operation). With an id, a router id is
checked first: one not in the catalog is refused with close matches; no live
provider, a pinned provider not serving it, or no tool support are warnings,
and the model is set anyway. When the catalog cannot be read the command says
so in one line and still works (the id is set unchecked).
"""

from __future__ import annotations

from html import escape
from typing import Any

from ...agent import catalog as cat
from ...agent.llm import LITELLM_PREFIX, LOCAL_PREFIXES

__all__ = ["PICK_POLICIES", "Picker", "check_lines", "is_router_id", "load", "table_text"]

last_picker: Any = None

FETCH_TIMEOUT_S = cat.CATALOG_TIMEOUT_S + 5
# Choices of the picker's provider drop-down: the suffix added to the picked id.
PICK_POLICIES = (("router's choice", ""), ("cheapest", ":cheapest"), ("fastest", ":fastest"))


def is_router_id(model_id: str) -> bool:
    model_id = model_id.strip()
    if model_id.startswith(LITELLM_PREFIX) or any(model_id.startswith(p) for p in LOCAL_PREFIXES):
        return False
    return "/" in model_id


def load(sessions: Any) -> tuple[dict[str, cat.ModelInfo] | None, str]:
    """(the catalog, "") or (None, why it could not be read). Blocks up to ~15 s."""

    async def read() -> tuple[Any, str]:
        base, token = cat.router_endpoint()
        found = await cat.fetch(base, token)
        return found, base

    try:
        found, base = sessions.runtime.call(read(), timeout=FETCH_TIMEOUT_S)
    except Exception as exc:  # a timeout of the hop itself
        return None, f"{type(exc).__name__}: {exc}".rstrip(": ")
    if found is None:
        return None, cat.last_error(base) or "no answer"
    return cat.models(found), ""


def unreachable(reason: str) -> str:
    return f"Could not read the router's model catalog ({reason})."


# ------------------------------------------------------------------ cells


def _price(p: cat.ProviderInfo | None) -> str:
    if p is None or p.input_per_mtok is None:
        return "?"
    return f"${p.input_per_mtok:g} / ${p.output_per_mtok or 0:g}"


def _tools(m: cat.ModelInfo) -> str:
    return {True: "yes", False: "no", None: "?"}[m.tools]


def _context(m: cat.ModelInfo) -> str:
    n = m.context_length
    if not n:
        return "?"
    return f"{n // 1000}k" if n >= 1000 else str(n)


def _providers(m: cat.ModelInfo, limit: int = 4) -> str:
    names = [p.name for p in m.live]
    if not names:
        return "none live"
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit})" if len(names) > limit else "")


def _row(m: cat.ModelInfo) -> list[str]:
    return [m.id, _providers(m), _price(m.cheapest), _context(m), _tools(m)]


HEADER = ["model", "live providers", "cheapest $/M in / out", "context", "tools"]


def table_text(models: list[cat.ModelInfo], current: str) -> str:
    rows = [HEADER] + [_row(m) for m in models]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    base = current.split(":", 1)[0]
    lines = []
    for n, row in enumerate(rows):
        mark = "  " if n == 0 else ("● " if row[0] == base else "  ")
        lines.append(
            mark + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(lines)


def check_lines(model_id: str, found: dict[str, cat.ModelInfo]) -> tuple[bool, list[str]]:
    """(set it?, lines to show) for `%intern model ID` on a router id."""
    result = cat.check(model_id, found)
    name = model_id.split(":", 1)[0]
    if not result.known:
        hint = f" Did you mean: {', '.join(result.close)}?" if result.close else ""
        return False, [
            f"'{name}' is not in the router's live catalog.{hint} The model was not changed "
            f"(`%%intern -m {model_id}` uses it anyway).",
        ]
    lines = [f"Warning: {w}" for w in result.warnings]
    lines += [f"  {p.describe()}" for p in result.providers]
    return True, lines


# ------------------------------------------------------------------ widgets


class Picker:
    """The catalog as a widget table; **Use** sets the model (main thread)."""

    def __init__(
        self,
        models: list[cat.ModelInfo],
        current: str,
        choose: Any,
        found: dict[str, cat.ModelInfo],
    ):
        import ipywidgets as w

        self.choose = choose  # model id -> message (what `%intern model ID` prints)
        self.found = found
        self.current = current
        layout = w.Layout(width="auto")
        cell = "padding:0 10px 0 0;white-space:nowrap"
        widths = ("300px", "230px", "150px", "70px", "50px")
        self.rows: dict[str, Any] = {}
        self.buttons: dict[str, Any] = {}
        head = w.HBox(
            [
                w.HTML(f'<b style="{cell}">{escape(h)}</b>', layout=w.Layout(width=wd))
                for h, wd in zip(HEADER, widths, strict=True)
            ]
        )
        children: list[Any] = [head]
        base = current.split(":", 1)[0]
        for m in models:
            cells = [
                w.HTML(
                    f'<span style="{cell}">{"● " if i == 0 and m.id == base else ""}'
                    f"{escape(text)}</span>",
                    layout=w.Layout(width=wd),
                )
                for i, (text, wd) in enumerate(zip(_row(m), widths, strict=True))
            ]
            button = w.Button(description="Use", layout=w.Layout(width="60px"))
            button.on_click(lambda _b, model_id=m.id: self.pick(model_id))
            self.buttons[m.id] = button
            self.rows[m.id] = w.HBox([*cells, button])
            children.append(self.rows[m.id])
        self.policy = w.Dropdown(
            options=[label for label, _s in PICK_POLICIES],
            value=PICK_POLICIES[0][0],
            description="provider",
        )
        self.status = w.HTML(value=f"Current model: <code>{escape(current)}</code>", layout=layout)
        children += [self.policy, self.status]
        self.widget = w.VBox(children)

    def pick(self, model_id: str) -> str:
        suffix = dict(PICK_POLICIES)[self.policy.value]
        chosen = model_id + suffix
        _ok, lines = check_lines(chosen, self.found)
        try:
            message = self.choose(chosen)
        except Exception as exc:  # a UsageError from the config check, or the hop
            message = str(exc)
        else:
            self.current = chosen
        text = "\n".join([message, *lines])
        self.status.value = "<br>".join(escape(line) for line in text.splitlines())
        return text

"""`hf_inspect_dataset`: a dataset's configs, splits, features and sample rows.

Uses the dataset viewer API (datasets-server: `/splits`, `/info`,
`/first-rows`); its base URL comes from `HF_DATASETS_SERVER_URL`, so tests
point it at the fake Hub. Long cells are cut so a few rows of a text
dataset stay readable.
"""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any

from ..errors import ToolFailure
from .base import ToolContext, ToolResult, ToolSpec
from .hub_client import (
    HubSettings,
    arg,
    clip,
    datasets_server_url,
    get_json,
    guarded,
    hub_endpoint,
    human_count,
    in_thread,
    obj,
    resolve_token,
)
from .hub_errors import LOGIN_HINT, Where, describe

__all__ = ["describe_feature", "inspect_dataset_tool"]

DEFAULT_ROWS = 5
MAX_ROWS = 20
MAX_CELL = 300
MAX_CLASS_NAMES = 10


def describe_feature(feature: Any) -> str:
    """A short type for a `datasets` feature as the viewer API serialises it."""
    if isinstance(feature, list):
        return f"list[{describe_feature(feature[0])}]" if feature else "list"
    if not isinstance(feature, dict):
        return str(feature)
    kind = feature.get("_type")
    if kind == "Value":
        return str(feature.get("dtype", "?"))
    if kind == "ClassLabel":
        names = [str(n) for n in feature.get("names") or []]
        shown = ", ".join(names[:MAX_CLASS_NAMES]) + (", …" if len(names) > MAX_CLASS_NAMES else "")
        return f"ClassLabel({shown})"
    if kind in ("Sequence", "List", "LargeList"):
        return f"list[{describe_feature(feature.get('feature'))}]"
    if kind is None:  # a struct: {name: feature}
        return "{" + ", ".join(f"{k}: {describe_feature(v)}" for k, v in feature.items()) + "}"
    return str(kind)  # Image, Audio, Translation, ...


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return clip(value, MAX_CELL)
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
        return value if len(text) <= MAX_CELL else clip(text, MAX_CELL)
    return value


def _pick(wanted: str | None, available: list[str], preferred: str, what: str) -> str:
    if wanted:
        if wanted not in available:
            raise ToolFailure(f"No {what} '{wanted}'. Available: {', '.join(available)}.")
        return wanted
    return preferred if preferred in available else available[0]


async def _inspect(settings: HubSettings, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    dataset = arg(args, "dataset")
    base, token, t = datasets_server_url(), resolve_token(), settings.request_timeout_s

    def fetch(route: str, **params: Any) -> Any:
        return get_json(
            f"{base}/{route}", params={"dataset": dataset, **params}, token=token, request_timeout=t
        )

    doc = await in_thread(fetch, "splits", deadline=t)
    pairs = [(s["config"], s["split"]) for s in doc.get("splits", [])]
    if not pairs:
        if doc.get("pending"):
            raise ToolFailure(
                f"The dataset viewer is still processing '{dataset}'; try again in a few minutes."
            )
        raise ToolFailure(
            f"The dataset viewer has no splits for '{dataset}' (it may not support this dataset). "
            "List its files with hf_repo_files repo_type=dataset instead."
        )
    configs = list(dict.fromkeys(c for c, _ in pairs))
    config = _pick(args.get("config"), configs, "default", "config")
    split_names = [s for c, s in pairs if c == config]
    split = _pick(args.get("split"), split_names, "train", f"split in config '{config}'")
    wanted = args.get("rows")
    n_rows = min(DEFAULT_ROWS if wanted is None else int(wanted), MAX_ROWS)

    # Either may fail on its own (the viewer computes them separately): show what there is.
    results: tuple[Any, Any] = await asyncio.gather(
        in_thread(fetch, "info", config=config, deadline=t),
        in_thread(fetch, "first-rows", config=config, split=split, deadline=t),
        return_exceptions=True,
    )
    info, rows = results
    if isinstance(info, BaseException) and isinstance(rows, BaseException):
        raise rows
    where = _where(dataset, t)

    lines = [f"Dataset {dataset} ({hub_endpoint()}/datasets/{dataset})"]
    sizes: dict[str, Any] = {}
    if not isinstance(info, BaseException):
        sizes = (info.get("dataset_info") or {}).get("splits") or {}
    lines.append("Configs and splits:")
    for c in configs:
        parts = []
        for s in (s for cc, s in pairs if cc == c):
            count = (sizes.get(s) or {}).get("num_examples") if c == config else None
            parts.append(f"{s} ({human_count(count)} rows)" if count is not None else s)
        lines.append(f"  {c}: {', '.join(parts)}")

    features: dict[str, Any] = {}
    if not isinstance(info, BaseException):
        features = (info.get("dataset_info") or {}).get("features") or {}
    if not features and not isinstance(rows, BaseException):
        features = {f["name"]: f["type"] for f in rows.get("features", [])}
    lines.append(f"Features ({config}):")
    lines += [f"  {name}: {describe_feature(f)}" for name, f in features.items()] or ["  (unknown)"]

    if isinstance(rows, BaseException):
        lines.append(f"Sample rows unavailable: {describe(rows, where)}")
    else:
        sample = rows.get("rows", [])[:n_rows]
        lines.append(f"First {len(sample)} rows of {config}/{split} (long cells cut):")
        for r in sample:
            row = {k: _cell(v) for k, v in (r.get("row") or {}).items()}
            lines.append(
                f"  [{r.get('row_idx')}] {json.dumps(row, ensure_ascii=False, default=str)}"
            )
    if isinstance(info, BaseException):
        lines.append(f"(Split sizes unavailable: {describe(info, where)})")
    return ToolResult("\n".join(lines))


def _where(dataset: str | None, timeout_s: float) -> Where:
    return Where(
        action="hf_inspect_dataset",
        endpoint=datasets_server_url(),
        repo_id=dataset,
        repo_type="dataset",
        timeout_s=timeout_s,
        not_found_hint=(
            "Check the dataset id with hf_search kind=datasets; a private or gated dataset "
            f"needs access ({LOGIN_HINT})."
        ),
    )


def inspect_dataset_tool(settings: HubSettings | None = None) -> ToolSpec:
    settings = settings or HubSettings()
    t = settings.request_timeout_s
    return ToolSpec(
        name="hf_inspect_dataset",
        description=(
            "Look inside a Hub dataset without downloading it: its configs and splits with "
            "row counts, the features (column types, class labels) and the first rows of a "
            f"split (default {DEFAULT_ROWS}, max {MAX_ROWS}; long cells are cut). Defaults to "
            "the 'default' config (else the first) and the 'train' split (else the first)."
        ),
        parameters=obj(
            {
                "dataset": {"type": "string", "description": "Dataset id, 'namespace/name'."},
                "config": {"type": "string", "description": "Config (subset) name."},
                "split": {"type": "string", "description": "Split name, e.g. train."},
                "rows": {"type": "integer", "minimum": 0, "maximum": MAX_ROWS},
            },
            ["dataset"],
        ),
        handler=guarded(
            "hf_inspect_dataset",
            partial(_inspect, settings),
            timeout_s=t,
            where=lambda args: _where(args.get("dataset"), t),
        ),
        timeout=2 * t + 30,
    )

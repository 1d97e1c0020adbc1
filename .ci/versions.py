"""Print the resolved versions of the main dependencies (top of each CI lane).

A failing lane then says which release it ran on.
"""

from __future__ import annotations

import sys
from importlib import metadata

PACKAGES = (
    "huggingface_hub",
    "httpx",
    "httpx2",
    "litellm",
    "openai",
    "mcp",
    "pydantic",
    "ipykernel",
    "ipython",
    "ipywidgets",
    "jupyter_client",
    "jupyter_server",
    "jupyterlab",
    "tornado",
    "nbclient",
    "pytest",
    "pytest-jupyter",
)


def main() -> None:
    lane = sys.argv[1] if len(sys.argv) > 1 else "lane"
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    print(f"== {lane}: Python {sys.version.split()[0]}; " + ", ".join(found), flush=True)


if __name__ == "__main__":
    main()

"""Fake web search backends and web pages on loopback.

* `/html/?q=` answers like DuckDuckGo's HTML endpoint (result links wrapped
  in `/l/?uddg=<url>`), from `results`;
* `/brave?q=` answers like Brave's search API (needs the X-Subscription-Token);
* `pages[path] = (content_type, body)` are served as is; `redirects[path] =
  location` answer 302.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from tests.fakes.routes import Reply, Request, RoutedFake

__all__ = ["FakeWeb"]


class FakeWeb(RoutedFake):
    routes = [
        ("GET", r"^/html/?$", "r_ddg"),
        ("GET", r"^/brave$", "r_brave"),
        ("GET", r"^(/.*)$", "r_page"),
    ]

    def __init__(self, brave_key: str = "brave-test-key") -> None:
        super().__init__()
        self.brave_key = brave_key
        self.results: list[tuple[str, str, str]] = []  # title, url, snippet
        self.pages: dict[str, tuple[str, str | bytes]] = {}
        self.redirects: dict[str, str] = {}

    def _matching(self, req: Request) -> list[tuple[str, str, str]]:
        words = (req.param("q") or "").lower().split()
        words = [w for w in words if not w.startswith("site:")]
        return [r for r in self.results if any(w in (r[0] + r[2]).lower() for w in words)]

    def r_ddg(self, req: Request) -> Reply:
        blocks = []
        for title, url, snippet in self._matching(req):
            blocks.append(
                '<div class="result results_links web-result"><h2 class="result__title">'
                f'<a rel="nofollow" class="result__a" href="//duckduckgo.com/l/?uddg={quote(url, safe="")}&amp;rut=x">'
                f"<b>{html.escape(title)}</b></a></h2>"
                f'<a class="result__snippet" href="#">{html.escape(snippet)}</a></div>'
            )
        body = f"<html><body><div id='links'>{''.join(blocks)}</div></body></html>"
        return Reply(body=body, content_type="text/html; charset=utf-8")

    def r_brave(self, req: Request) -> Any:
        if req.headers.get("x-subscription-token") != self.brave_key:
            return Reply(401, {"message": "invalid subscription token"})
        return {
            "web": {
                "results": [
                    {"title": t, "url": u, "description": s} for t, u, s in self._matching(req)
                ]
            }
        }

    def r_page(self, req: Request, path: str) -> Reply:
        if path in self.redirects:
            return Reply(
                302, "", content_type="text/plain", headers={"Location": self.redirects[path]}
            )
        if path not in self.pages:
            return Reply(404, "<html><body>Not Found</body></html>", content_type="text/html")
        ctype, body = self.pages[path]
        return Reply(body=body, content_type=ctype)

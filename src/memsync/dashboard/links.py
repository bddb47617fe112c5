"""Where a page lives: a URL on the local server, or a file name in the static build.

Templates never build a URL themselves; they ask ``links.page(tab, **params)``. The
static builder's ``StaticLinks`` records every page asked for, so rendering the
overview and following its links builds exactly the pages that are reachable.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

TABS: tuple[tuple[str, str], ...] = (
    ("overview", "Overview"),
    ("observations", "Observations"),
    ("search", "Search"),
    ("analytics", "Analytics"),
    ("access", "Access Map"),
    ("sync", "Sync History"),
    ("profiles", "Dev Profiles"),
    ("insights", "Team Insights"),
    ("distilled", "Distilled"),
    ("team", "Team"),
)
TAB_NAMES = frozenset(name for name, _ in TABS) | {"observation"}
PARAM_ORDER = ("project", "dev", "type", "q", "page", "events", "id")


def clean_params(params: dict[str, Any]) -> dict[str, str]:
    """Drop empty values and first pages, so one page has one address."""
    out = {}
    for key in PARAM_ORDER:
        value = params.get(key)
        if value in (None, "") or (key in ("page", "events") and str(value) == "1"):
            continue
        out[key] = str(value)
    return out


class LiveLinks:
    static_mode = False

    def page(self, tab: str, **params: Any) -> str:
        cleaned = clean_params(params)
        if tab == "observation":
            return f"/observations/{cleaned.pop('id')}"
        path = "/" if tab == "overview" else f"/{tab}"
        return path + ("?" + urllib.parse.urlencode(cleaned) if cleaned else "")

    def asset(self, name: str) -> str:
        return f"/static/{name}"


class StaticLinks:
    """Flat file names (``observations~demo~p2.html``): ``~`` never occurs in a safe name."""

    static_mode = True

    def __init__(self) -> None:
        self.wanted: dict[str, tuple[str, dict[str, str]]] = {}

    def page(self, tab: str, **params: Any) -> str:
        cleaned = clean_params(params)
        cleaned.pop("q", None)  # static search runs in the browser
        name = self.file_name(tab, cleaned)
        self.wanted.setdefault(name, (tab, cleaned))
        return name

    @staticmethod
    def file_name(tab: str, params: dict[str, str]) -> str:
        if tab == "overview" and not params:
            return "index.html"
        parts = [tab]
        for key in PARAM_ORDER:
            if key in params:
                value = params[key]
                parts.append({"page": "p", "events": "e", "type": "t-"}.get(key, "") + value)
        return "~".join(parts) + ".html"

    def asset(self, name: str) -> str:
        return f"static/{name}"

"""Each tab's figures, gathered from the sources and rendered through jinja2 (autoescape on).

The live server and the static build call the same ``Site.render``; only the links
(``links.py``) and the sources differ. Observation text is untrusted (teammates wrote it):
it reaches the page only through autoescaping, the ``marks`` filter (escape first, then
turn FTS5's control-character markers into <mark>), or JSON embedded with ``tojson``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from memsync.dashboard.links import TAB_NAMES, TABS
from memsync.dashboard.sources import AccessLog, SharedRepo, SyncHistory, heatmap_weeks
from memsync.dashboard.store import (
    DETAIL_LIST_FIELDS,
    MARK_END,
    MARK_START,
    ObservationStore,
    SearchSyntaxError,
    quoted_terms,
)
from memsync.merge.scoring import STRATEGY_WEIGHTS, recency_weight, score, type_weight
from memsync.model import parse_string_list

PER_PAGE = 50
SEARCH_PER_PAGE = 20
EVENTS_PER_PAGE = 50
MERGES_SHOWN = 30


class NotFound(Exception):
    """The page asked for does not exist (404)."""


@dataclass(frozen=True)
class Site:
    """Everything a page can draw from. A source that is None is not available in this mode."""

    links: Any
    store: ObservationStore | None = None
    access: AccessLog | None = None
    history: SyncHistory | None = None
    repo: SharedRepo | None = None
    db_path: Path | None = None
    state_dir: Path | None = None
    default_project: str | None = None
    dev_name: str | None = None
    write_token: str | None = None  # minted per launch; None in the static build (read only)
    default_cap: int = 500
    generated_at_ms: int | None = None
    # configured projects: name -> {"mem_project", "remote", "mode", "enabled"} (live only)
    configured: dict[str, dict[str, Any]] | None = None

    @property
    def static(self) -> bool:
        return bool(self.links.static_mode)

    # --- entry point ---------------------------------------------------------------------

    def render(self, tab: str, params: dict[str, str]) -> str:
        if tab not in TAB_NAMES:
            raise NotFound(tab)
        builder = getattr(self, f"_tab_{tab}")
        context = builder(params)
        context.update(self._common(tab, params))
        return environment().get_template(f"{tab}.html").render(**context)

    def _common(self, tab: str, params: dict[str, str]) -> dict[str, Any]:
        return {
            "tabs": TABS,
            "active": "observations" if tab == "observation" else tab,
            "links": self.links,
            "static": self.static,
            "params": params,
            "project": params.get("project") or "",
            # --project: the project the list tabs open on (their "All projects" chip clears it)
            "nav_project": params.get("project") or self.default_project or "",
            "dev_name": self.dev_name,
            "generated_at": self.generated_at_ms,
        }

    def _page_number(self, params: dict[str, str], key: str = "page") -> int:
        try:
            return max(1, min(int(params.get(key) or 1), 1_000_000))
        except ValueError:
            return 1

    def projects(self) -> list[str]:
        names: set[str] = set()
        if self.configured:
            mem_names = {entry.get("mem_project") for entry in self.configured.values()}
            names.update(name for name in self.configured)
        else:
            mem_names = set()
        if self.store is not None:
            # a configured project's claude-mem name is shown under its shared-repo name
            names.update(name for name, _ in self.store.projects() if name not in mem_names)
        if self.repo is not None:
            names.update(self.repo.projects())
        return sorted(names)

    def repo_projects(self) -> list[str]:
        return self.repo.projects() if self.repo is not None else []

    def now_ms(self) -> int:
        if self.generated_at_ms is not None:
            return self.generated_at_ms
        return self.store.now_ms() if self.store is not None else int(datetime.now(UTC).timestamp() * 1000)

    def access_attached(self) -> bool:
        return (not self.static and self.store is not None and self.access is not None
                and self.access.attach_to(self.store.conn))

    # --- tabs ----------------------------------------------------------------------------

    def _tab_overview(self, params: dict[str, str]) -> dict[str, Any]:
        totals = self.store.totals() if self.store is not None else None
        db_size = self.db_path.stat().st_size if self.db_path is not None and self.db_path.is_file() else None
        access = self.access.summary() if self.access is not None else None
        events = self.history.events() if self.history is not None else []
        local_counts = dict(self.store.projects()) if self.store is not None and not self.static else {}
        rows = []
        configured = self.configured or {}
        for name in sorted(set(self.projects()) | set(configured)):
            config = configured.get(name, {})
            merged = self.repo.merged_observations(name) if self.repo is not None else []
            cap = self.repo.project_state(name).get("cap", self.default_cap) if self.repo is not None else None
            last_export = next((e for e in events if e.project == name and e.kind == "export"), None)
            last_import = next((e for e in events if e.project == name and e.kind == "import"), None)
            rows.append({"name": name, "local": local_counts.get(config.get("mem_project", name)),
                         "merged": len(merged), "cap": cap, "config": config,
                         "last_export": last_export, "last_import": last_import})
        merges = self.repo.merge_history() if self.repo is not None else []
        health = self._health(access, merges)
        charts = []
        if totals and self.store is not None:
            types = self.store.type_distribution(None)
            charts.append(_chart("chart-overview-types", "doughnut", [t for t, _ in types],
                                 [{"label": "observations", "data": [n for _, n in types]}]))
        return {"totals": totals, "db_size": db_size, "access": access, "project_rows": rows,
                "health": health, "charts": charts, "last_merge": merges[0] if merges else None,
                "contributors": self._all_contributors()}

    def _health(self, access: dict[str, Any] | None, merges: list[Any]) -> list[dict[str, str]]:
        items = []
        if self.store is not None and not self.static:
            items.append({"ok": "yes" if self.store.has_fts else "warn",
                          "label": "claude-mem database",
                          "text": f"schema v{self.store.schema_version or '?'}, full-text index "
                                  + ("present" if self.store.has_fts else "missing (search falls back to LIKE)")})
            items.append({"ok": "yes" if access else "no", "label": "Access hook",
                          "text": f"{access['events']} accesses recorded" if access
                          else "not installed yet: see the Access Map tab"})
            items.append({"ok": "yes" if self.history is not None and self.history.exists() else "no",
                          "label": "Sync history",
                          "text": "recorded" if self.history is not None and self.history.exists()
                          else "nothing exported or imported yet"})
        items.append({"ok": "yes" if self.repo is not None else "no", "label": "Shared repository",
                      "text": str(self.repo.root) if self.repo is not None and not self.static
                      else ("read" if self.repo is not None else "not given: pass --repo-dir DIR")})
        if self.repo is not None:
            items.append({"ok": "yes" if merges else "no", "label": "Merge bot",
                          "text": f"last merge {_date(merges[0].at_ms)}" if merges
                          else "no merge commit found in the git log yet"})
        return items

    def _all_contributors(self) -> int | None:
        if self.repo is None:
            return None
        devs: set[str] = set()
        for name in self.repo.projects():
            devs.update(self.repo.contributions_by_dev(name))
        return len(devs)

    def _tab_observations(self, params: dict[str, str]) -> dict[str, Any]:
        if self.store is None:
            return {"unavailable": self._no_store_message()}
        project = params.get("project") or None
        type_ = params.get("type") or None
        page = self.store.list_page(project=project, type_=type_, page=self._page_number(params), per_page=PER_PAGE)
        self._decorate(page.rows)
        types = [t for t, _ in self.store.type_distribution(project)]
        return {"page": page, "types": types, "type": type_ or "", "projects": [n for n, _ in self.store.projects()],
                "pg": _pager(page.page, page.pages)}

    def _decorate(self, rows: list[dict[str, Any]]) -> None:
        """Score and access count per row, as mem-sync would rank it."""
        counts = {}
        attached = False
        if not self.static and self.access is not None and self.access.exists():
            counts = self.access.counts_for([row["id"] for row in rows])
            attached = True
        peak = self._peak_accesses() if attached else 0
        now = self.now_ms()
        weights = STRATEGY_WEIGHTS["hook" if attached else "passive"]
        for row in rows:
            if "stored_score" in row:
                row["score"] = row.pop("stored_score")
                continue
            accesses, last = counts.get(row["id"], (0, None))
            row["accesses"], row["last_access"] = accesses, last
            third = (accesses / peak if peak else 0.0) if attached else 1.0
            row["score"] = score(type_weight(row["type"]), _millis(row["created_at_epoch"]), third, now, weights)

    def _peak_accesses(self) -> int:
        top = self.access.top(1) if self.access is not None else []
        return top[0]["accesses"] if top else 0

    def _tab_observation(self, params: dict[str, str]) -> dict[str, Any]:
        if self.store is None:
            raise NotFound("observation")
        try:
            obs_id = int(params.get("id", ""))
        except ValueError:
            raise NotFound("observation") from None
        obs = self.store.get(obs_id)
        if obs is None:
            raise NotFound("observation")
        lists = {name: parse_string_list(obs.get(name)) for name in DETAIL_LIST_FIELDS}
        row = dict(obs)
        if self.static:
            row["stored_score"] = obs.get("score")
        self._decorate([row])
        now = self.now_ms()
        breakdown = {"type": type_weight(obs["type"]),
                     "recency": recency_weight((now - _millis(obs["created_at_epoch"])) / 86_400_000)}
        return {"obs": obs, "lists": lists, "row": row, "breakdown": breakdown,
                "contributors": parse_string_list(obs.get("contributors")) if self.static else []}

    def _tab_search(self, params: dict[str, str]) -> dict[str, Any]:
        if self.static:
            return {"static_search": True, "projects": self.repo_projects()}
        if self.store is None:
            return {"unavailable": self._no_store_message()}
        query = (params.get("q") or "").strip()
        project = params.get("project") or None
        type_ = params.get("type") or None
        context: dict[str, Any] = {"q": query, "type": type_ or "", "projects": [n for n, _ in self.store.projects()],
                                   "types": [t for t, _ in self.store.type_distribution(None)], "result": None,
                                   "error": None}
        if query:
            try:
                result = self.store.search(query, project=project, type_=type_, page=self._page_number(params),
                                           per_page=SEARCH_PER_PAGE)
            except SearchSyntaxError as error:
                context["error"] = str(error)
                # and the literal reading, so "claude-mem" still finds claude-mem
                literal = quoted_terms(query)
                try:
                    result = self.store.search(literal, project=project, type_=type_,
                                               page=self._page_number(params), per_page=SEARCH_PER_PAGE)
                except SearchSyntaxError:
                    result = None
                if result is not None:
                    context.update({"result": result, "literal": literal,
                                    "pg": _pager(result.page.page, result.page.pages)})
            else:
                context["result"] = result
                context["pg"] = _pager(result.page.page, result.page.pages)
        return context

    def _tab_analytics(self, params: dict[str, str]) -> dict[str, Any]:
        project = params.get("project") or None
        charts, context = [], {"projects": self.projects()}
        if self.store is not None:
            types = self.store.type_distribution(project)
            charts.append(_chart("chart-types", "doughnut", [t for t, _ in types],
                                 [{"label": "observations", "data": [n for _, n in types]}]))
            monthly = dict(self.store.monthly(project))
            events = self.history.events() if self.history is not None else []
            exported, imported = _monthly_events(events, project)
            months = sorted(set(monthly) | set(exported) | set(imported))
            datasets = [{"label": "observations created", "data": [monthly.get(m, 0) for m in months]}]
            if exported or imported:
                datasets += [{"label": "exported", "data": [exported.get(m, 0) for m in months]},
                             {"label": "imported", "data": [imported.get(m, 0) for m in months]}]
            charts.append(_chart("chart-timeline", "line", months, datasets))
            top = self.store.top_scored(project=project, access_attached=self.access_attached())
            charts.append(_chart("chart-top", "bar", [_short(row.get("title")) for row in top],
                                 [{"label": "score", "data": [round(row["score"], 3) for row in top]}],
                                 horizontal=True))
            context.update({"types": types, "top": top, "total": sum(n for _, n in types)})
        else:
            context["unavailable"] = self._no_store_message()
        if self.repo is not None:
            per_dev: dict[str, dict[str, int]] = {}
            for name in ([project] if project else self.repo.projects()):
                for dev, counts in self.repo.contributions_by_dev(name).items():
                    entry = per_dev.setdefault(dev, {"files": 0, "observations": 0})
                    entry["files"] += counts["files"]
                    entry["observations"] += counts["observations"]
            context["devs"] = per_dev
            if per_dev:
                charts.append(_chart("chart-devs", "bar", list(per_dev),
                                     [{"label": "observations exported",
                                       "data": [v["observations"] for v in per_dev.values()]},
                                      {"label": "contribution files", "data": [v["files"] for v in per_dev.values()]}]))
        context["charts"] = charts
        return context

    def _tab_access(self, params: dict[str, str]) -> dict[str, Any]:
        project = params.get("project") or None
        if self.static:
            rows = []
            if self.store is not None:
                rows = [dict(row) for row in self.store.conn.execute(
                    "SELECT id, type, title, project, access_count AS accesses FROM observations "
                    "WHERE access_count > 0 ORDER BY access_count DESC, id LIMIT 20")]
            charts = [_chart("chart-access-top", "bar", [_short(r["title"]) for r in rows],
                             [{"label": "team accesses", "data": [r["accesses"] for r in rows]}], horizontal=True)] \
                if rows else []
            return {"team_rows": rows, "charts": charts}
        if self.access is None or not self.access.exists():
            return {"not_installed": True, "log_path": self.access.path if self.access else None}
        now = self.now_ms()
        summary = self.access.summary()
        weeks = heatmap_weeks(self.access.heatmap(now), now)
        top = self.access.top(20, project)
        titles = self.store.titles(row["id"] for row in top) if self.store is not None else {}
        for row in top:
            row.update({k: v for k, v in titles.get(row["id"], {}).items() if k != "id"})
            row["missing"] = row["id"] not in titles
        tools = self.access.by_tool()
        charts = [_chart("chart-tools", "bar", [t.rsplit("__", 1)[-1] for t, _ in tools],
                         [{"label": "accesses", "data": [n for _, n in tools]}])]
        months = _month_labels(weeks)
        return {"summary": summary, "weeks": weeks, "top": top, "charts": charts, "months": months,
                "active_days": sum(1 for week in weeks for day in week if day["count"])}

    def _tab_sync(self, params: dict[str, str]) -> dict[str, Any]:
        context: dict[str, Any] = {"history_available": not self.static}
        charts = []
        if not self.static:
            events = self.history.events() if self.history is not None else []
            page_no = self._page_number(params, "events")
            pages = max(1, math.ceil(len(events) / EVENTS_PER_PAGE))
            shown = events[(page_no - 1) * EVENTS_PER_PAGE:page_no * EVENTS_PER_PAGE]
            exported, imported = _monthly_events(events, None)
            months = sorted(set(exported) | set(imported))
            if months:
                charts.append(_chart("chart-sync", "bar", months,
                                     [{"label": "exported", "data": [exported.get(m, 0) for m in months]},
                                      {"label": "imported", "data": [imported.get(m, 0) for m in months]}]))
            kinds = {kind: sum(1 for e in events if e.kind == kind) for kind in ("export", "import", "maintain")}
            context.update({"events": shown, "events_total": len(events), "kinds": kinds,
                            "events_pager": _pager(page_no, pages), "history_path": self.history.path
                            if self.history else None,
                            "errors": sum(1 for e in events if e.result == "error")})
        merges = self.repo.merge_history() if self.repo is not None else []
        context["merges"] = merges[:MERGES_SHOWN]
        context["merges_total"] = len(merges)
        context["repo"] = self.repo is not None
        context["repo_is_git"] = self.repo.is_git() if self.repo is not None else False
        if merges:
            ordered = list(reversed(merges[:MERGES_SHOWN]))
            charts.append(_chart("chart-merges", "bar", [_datetime(m.at_ms)[5:16] for m in ordered],
                                 [{"label": "added", "data": [sum(p["added"] for p in m.projects) for m in ordered]},
                                  {"label": "evicted",
                                   "data": [sum(p["evicted"] for p in m.projects) for m in ordered]}]))
        context["charts"] = charts
        return context

    def _tab_profiles(self, params: dict[str, str]) -> dict[str, Any]:
        if self.repo is None:
            return {"no_repo": True}
        projects = [p for p in self.repo.projects() if self.repo.profile_devs(p)]
        if not projects:
            return {"no_profiles": True}
        project = self._pick(params.get("project"), sorted(projects, key=lambda p: -len(self.repo.profile_devs(p))))
        projects = sorted(projects)
        devs = self.repo.profile_devs(project)
        dev = params.get("dev") or (self.dev_name if self.dev_name in devs else devs[0])
        profile = self.repo.profile(project, dev) if dev in devs else None
        if profile is None:
            raise NotFound("profile")
        charts = []
        spectrum = [t for t in _list(profile, "knowledgeSpectrum", "types") if t.get("count") or t.get("teamAverage")]
        charts.append(_chart("chart-spectrum", "bar", [t.get("type") for t in spectrum],
                             [{"label": "you (%)", "data": [t.get("percentage", 0) for t in spectrum]},
                              {"label": "team average (%)", "data": [t.get("teamAverage", 0) for t in spectrum]}]))
        concepts = [c for c in _list(profile, "conceptMap", "concepts") if c.get("devCount")][:15]
        charts.append(_chart("chart-concepts", "bar", [_short(c.get("concept"), 25) for c in concepts],
                             [{"label": "you", "data": [c.get("devCount", 0) for c in concepts]},
                              {"label": "team", "data": [c.get("teamCount", 0) for c in concepts]}], horizontal=True))
        monthly = _list(profile, "temporalPattern", "monthly")
        charts.append(_chart("chart-tempo", "line", [m.get("month") for m in monthly],
                             [{"label": "observations", "data": [m.get("count", 0) for m in monthly]}]))
        directories = _list(profile, "fileCoverage", "directories")[:10]
        charts.append(_chart("chart-files", "bar", [d.get("directory") for d in directories],
                             [{"label": "files", "data": [d.get("count", 0) for d in directories]}], horizontal=True))
        gaps = [c for c in _list(profile, "conceptMap", "concepts") if c.get("isGap")][:20]
        return {"projects": projects, "devs": devs, "profile_project": project, "dev": dev, "profile": profile,
                "charts": charts, "gaps": gaps}

    def _tab_insights(self, params: dict[str, str]) -> dict[str, Any]:
        if self.repo is None:
            return {"no_repo": True}
        projects = [p for p in self.repo.projects() if self.repo.team_overview(p) is not None]
        if not projects:
            return {"no_insights": True}
        biggest = sorted(projects, key=lambda p: -int((self.repo.team_overview(p) or {}).get("totalDevs") or 0))
        project = self._pick(params.get("project"), biggest)
        overview = self.repo.team_overview(project) or {}
        concepts_doc = self.repo.team_concepts(project) or {}
        types = [t for t in overview.get("typeDistribution") or [] if isinstance(t, dict) and t.get("count")]
        concepts = [c for c in concepts_doc.get("concepts") or [] if isinstance(c, dict)]
        concepts.sort(key=lambda c: (-(c.get("teamCount") or 0), str(c.get("concept"))))
        gaps = [g for g in concepts_doc.get("knowledgeGaps") or [] if isinstance(g, dict)]
        charts = [
            _chart("chart-team-types", "doughnut", [t.get("type") for t in types],
                   [{"label": "observations", "data": [t.get("count", 0) for t in types]}]),
            _chart("chart-team-concepts", "bar", [_short(c.get("concept"), 20) for c in concepts[:20]],
                   [{"label": "team count", "data": [c.get("teamCount", 0) for c in concepts[:20]]},
                    {"label": "developers", "data": [c.get("devCount", 0) for c in concepts[:20]]}]),
        ]
        return {"projects": projects, "insight_project": project, "overview": overview, "gaps": gaps,
                "concept_count": len(concepts), "charts": charts}

    def _tab_distilled(self, params: dict[str, str]) -> dict[str, Any]:
        if self.repo is None:
            return {"no_repo": True}
        projects = [p for p in self.repo.projects() if self.repo.distilled(p) is not None]
        if not projects:
            return {"not_distilled": True, "repo_projects": self.repo.projects()}
        project = self._pick(params.get("project"), projects)
        distilled = self.repo.distilled(project) or {}
        feedback = {}
        for entry in (distilled.get("feedback") or {}).get("entries") or []:
            if isinstance(entry, dict) and isinstance(entry.get("ruleId"), str):
                feedback[entry["ruleId"]] = entry
        rules = []
        for rule in (distilled.get("rules") or {}).get("rules") or []:
            if isinstance(rule, dict):
                entry = feedback.get(str(rule.get("id")), {})
                rules.append({**rule, "status": entry.get("status", "proposed"), "review": entry})
        statuses = {s: sum(1 for r in rules if r["status"] == s)
                    for s in ("proposed", "accepted", "modified", "rejected")}
        charts = []
        if rules:
            charts.append(_chart("chart-rule-status", "doughnut", list(statuses),
                                 [{"label": "rules", "data": list(statuses.values())}]))
        return {"projects": projects, "distilled_project": project, "d": distilled, "rules": rules,
                "statuses": statuses, "report": distilled.get("report") or {}, "charts": charts,
                "write_token": self.write_token}

    def _tab_team(self, params: dict[str, str]) -> dict[str, Any]:
        if self.repo is None:
            return {"no_repo": True}
        merges = self.repo.merge_history()
        cards = []
        for name in self.repo.projects():
            observations = self.repo.merged_observations(name)
            state = self.repo.project_state(name)
            cap = state.get("cap", self.default_cap)
            contributors: dict[str, int] = {}
            for obs in observations:
                for dev in obs.get("contributors") or []:
                    if isinstance(dev, str):
                        contributors[dev] = contributors.get(dev, 0) + 1
            last = [{"commit": m, "line": next(p for p in m.projects if p["project"] == name)}
                    for m in merges if any(p["project"] == name for p in m.projects)][:5]
            cards.append({
                "name": name, "merged": len(observations), "cap": cap,
                "keep": sum(1 for obs in observations if obs.get("keep") is True),
                "contributors": sorted(contributors.items(), key=lambda kv: (-kv[1], kv[0])),
                "by_dev": self.repo.contributions_by_dev(name),
                "merges": last,
                "distilled": self.repo.distilled(name) is not None,
            })
        return {"cards": cards, "repo_is_git": self.repo.is_git()}

    # --- helpers -------------------------------------------------------------------------

    def _pick(self, wanted: str | None, choices: list[str]) -> str:
        if wanted:
            if wanted not in choices:
                raise NotFound(wanted)
            return wanted
        if self.default_project in choices:
            return str(self.default_project)
        return choices[0]

    def _no_store_message(self) -> str:
        return "No claude-mem database: start the dashboard with --db FILE."


# --- helpers shared by the tabs ----------------------------------------------------------


def _chart(element_id: str, kind: str, labels: list[Any], datasets: list[dict[str, Any]],
           horizontal: bool = False) -> dict[str, Any]:
    return {"id": element_id, "type": kind, "labels": [str(label) for label in labels],
            "datasets": datasets, "horizontal": horizontal}


def _millis(epoch: int | None) -> int:
    if not epoch:
        return 0
    return int(epoch) if epoch >= 1_000_000_000_000 else int(epoch) * 1000


def _date(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(_millis(ms) / 1000, UTC).strftime("%Y-%m-%d")


def _datetime(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(_millis(ms) / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _short(text: Any, width: int = 40) -> str:
    text = str(text or "(untitled)")
    return text if len(text) <= width else text[:width - 1] + "…"


def _list(doc: dict[str, Any], section: str, name: str) -> list[dict[str, Any]]:
    part = doc.get(section)
    items = part.get(name) if isinstance(part, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _monthly_events(events: list[Any], project: str | None) -> tuple[dict[str, int], dict[str, int]]:
    exported: dict[str, int] = {}
    imported: dict[str, int] = {}
    for event in events:
        if project and event.project != project:
            continue
        month = datetime.fromtimestamp(event.at_ms / 1000, UTC).strftime("%Y-%m")
        if event.kind == "export" and event.result == "ok":
            exported[month] = exported.get(month, 0) + event.count
        elif event.kind == "import" and event.result == "ok":
            imported[month] = imported.get(month, 0) + event.count
    return exported, imported


def _month_labels(weeks: list[list[dict[str, Any]]]) -> list[str]:
    labels, last = [], None
    for week in weeks:
        month = week[0]["date"][:7]
        labels.append(datetime.strptime(month, "%Y-%m").strftime("%b") if month != last else "")
        last = month
    return labels


def _pager(page: int, pages: int) -> dict[str, Any]:
    return {"page": page, "pages": pages, "prev": page - 1 if page > 1 else None,
            "next": page + 1 if page < pages else None}


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(value)


def marks(text: Any) -> Markup:
    """Escape untrusted text, then turn the FTS5 highlight markers into <mark> elements."""
    escaped = str(escape(str(text or "")))
    return Markup(escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def strip_marks(text: Any) -> str:
    return str(text or "").replace(MARK_START, "").replace(MARK_END, "")


@functools.lru_cache(maxsize=1)
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("memsync", "templates/dashboard"),
        autoescape=True,  # teammates' observations are untrusted input
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update({"date": _date, "datetime": _datetime, "size": _size, "marks": marks,
                        "short": _short, "strip_marks": strip_marks})
    env.globals["thousands"] = lambda n: "-" if n is None else f"{n:,}"
    return env

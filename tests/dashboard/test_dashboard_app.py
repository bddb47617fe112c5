"""The dashboard's routes through Starlette's TestClient, over a real claude-mem DB and a merged repo."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from clirun import run_mem_sync
from dashboard.world import HOSTILE, LEAKED_KEY, RULE_IDS, World
from memsync.dashboard.app import CSP, HostPolicy, create_app
from memsync.dashboard.feedback import set_rule_status
from memsync.dashboard.links import TABS, LiveLinks
from memsync.dashboard.pages import Site
from memsync.dashboard.sources import ACCESS_LOG_NAME, SYNC_HISTORY_NAME, AccessLog, SharedRepo, SyncHistory
from memsync.dashboard.store import ObservationStore, open_claude_mem

pytestmark = pytest.mark.claude_mem
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
TAB_PATHS = ["/" if name == "overview" else f"/{name}" for name, _ in TABS]


def make_site(world: World, *, repo: bool = True, state: Path | None = None) -> Site:
    state = state or world.state
    return Site(links=LiveLinks(), store=ObservationStore(open_claude_mem(world.db), path=world.db),
                access=AccessLog(state / ACCESS_LOG_NAME), history=SyncHistory(state / SYNC_HISTORY_NAME),
                repo=SharedRepo(world.repo) if repo else None, db_path=world.db, state_dir=state,
                dev_name="alice", write_token="launch-token-123")


def client_for(site: Site, access_token: str | None = None) -> TestClient:
    app = create_app(site, policy=HostPolicy(port=3737), access_token=access_token, feedback_writer=set_rule_status)
    return TestClient(app, base_url="http://127.0.0.1:3737", raise_server_exceptions=True)


@pytest.fixture
def client(world: World) -> TestClient:
    return client_for(make_site(world))


def db_count(world: World, sql: str, *args: object) -> int:
    conn = sqlite3.connect(world.db)
    try:
        return conn.execute(sql, args).fetchone()[0]
    finally:
        conn.close()


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</div>\s*</div>|id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no #{element_id} in page"
    return re.sub(r"<[^>]+>", " ", match.group(1) or match.group(2))


# --- every tab renders its figures --------------------------------------------------------


def test_overview_shows_the_database_totals(client: TestClient, world: World):
    page = client.get("/")
    assert page.status_code == 200
    assert "63" in text_of(page.text, "card-observations")
    assert str(db_count(world, "SELECT COUNT(*) FROM sdk_sessions")) in text_of(page.text, "card-sessions")
    assert "21" in text_of(page.text, "card-access")  # 9 + 4 + 6 + 1 + one for a deleted row
    assert "KB" in text_of(page.text, "card-dbsize")
    assert "12 / 12" in page.text and "1 / 12" in page.text  # merged against the cap, per project
    assert "2026-03-22 · 14 (ok)" in page.text  # last import from the sync history


def test_observations_are_paginated_newest_first(client: TestClient, world: World):
    first = client.get("/observations").text
    assert "Page 1 of 2" in first and "63 observations" in first
    assert first.count('class="row"') == 50
    second = client.get("/observations?page=2").text
    assert second.count('class="row"') == 13 and 'rel="prev"' in second
    webapp = client.get("/observations?project=api").text
    assert f"{db_count(world, 'SELECT COUNT(*) FROM observations WHERE project = ?', 'api')} observations" in webapp
    bugfixes = client.get("/observations?type=bugfix").text
    assert bugfixes.count('class="row"') == db_count(world, "SELECT COUNT(*) FROM observations WHERE type='bugfix'")


def test_observation_detail_lists_its_fields(client: TestClient, world: World):
    obs_id = db_count(world, "SELECT id FROM observations WHERE title = 'Use WAL mode for the SQLite store'")
    page = client.get(f"/observations/{obs_id}").text
    assert "Concurrent readers need write-ahead logging" in page
    assert "<li>readers never block writers</li>" in page
    assert client.get("/observations/999999").status_code == 404


def test_analytics_counts_types_and_contributions(client: TestClient, world: World):
    page = client.get("/analytics").text
    decisions = db_count(world, "SELECT COUNT(*) FROM observations WHERE type = 'decision'")
    assert re.search(rf"b-decision\">decision</span></td><td class=\"num\">{decisions}<", page)
    charts = orjson.loads(re.search(r'id="chart-data">(.*?)</script>', page, re.S).group(1))
    assert {c["id"] for c in charts} == {"chart-types", "chart-timeline", "chart-top", "chart-devs"}
    devs = next(c for c in charts if c["id"] == "chart-devs")
    assert dict(zip(devs["labels"], devs["datasets"][0]["data"], strict=True)) == {"alice": 10, "bob": 7, "carol": 1}
    top = next(c for c in charts if c["id"] == "chart-top")
    assert top["labels"][0] == "Observation 00 about caching"  # newest decision and the most accessed


def test_access_map_counts_and_names_deleted_rows(client: TestClient):
    page = client.get("/access").text
    assert "21" in text_of(page, "card-events")
    assert "5" in text_of(page, "card-used")
    assert page.count('class="hc h') >= 26 * 7
    assert "deleted from claude-mem" in page  # an access to a row claude-mem no longer has
    assert ">9</td>" in page


def test_sync_history_lists_events_and_merges(client: TestClient):
    page = client.get("/sync").text
    assert "2" in text_of(page, "card-exports") and "1" in text_of(page, "card-errors")
    assert "integrity check failed; backup restored" in page
    assert "<b>webapp</b>: +12 added, −3 evicted, 12 merged" in page  # the first merge commit
    assert re.search(r'class="num warn">1<', page)  # the second merge quarantined one file
    assert '<td class="warn">aws-access-key</td>' in page  # and withheld a credential, by rule name


def test_profiles_insights_distilled_and_team(client: TestClient):
    profiles = client.get("/profiles?project=webapp&dev=bob").text
    assert "Survival rate" in profiles and 'href="/profiles?project=webapp&amp;dev=alice"' in profiles
    insights = client.get("/insights?project=webapp").text
    assert "2" in text_of(insights, "card-devs")
    distilled = client.get("/distilled").text
    assert "$0.0213" in distilled and "Include the tenant in every cache key" in distilled
    assert re.search(r'id="rule-R-99aa88bb".*?class="st-rejected">rejected', distilled, re.S)
    team = client.get("/team").text
    assert "withheld: aws-access-key" in team and "1 quarantined" in team
    assert re.search(r'id="team-webapp".*?class="merged-count">12<.*?of a cap of 12', team, re.S)
    assert re.search(r'id="team-webapp".*?class="keep-count">2<', team, re.S)


# --- search ---------------------------------------------------------------------------------


def results(page: str) -> list[str]:
    return re.findall(r'class="sr-title">.*?</span> (.*?)</div>', page, re.S)


def test_search_uses_fts_operators_and_highlights(client: TestClient):
    both = client.get("/search", params={"q": "caching"}).text
    assert "20 results" in both and "<mark>caching</mark>" in both
    anded = results(client.get("/search", params={"q": "caching AND routing"}).text)
    assert anded == []
    ored = client.get("/search", params={"q": "caching OR routing"}).text
    assert "60 results" in ored
    negated = client.get("/search", params={"q": "cache NOT caching"}).text
    assert "40 results" in negated and "<mark>cache</mark>" in negated
    assert "40 results" in client.get("/search", params={"q": "cache AND NOT caching"}).text
    phrase = client.get("/search", params={"q": '"write-ahead logging"'}).text
    assert "1 result " in phrase and "<mark>write-ahead logging</mark>" in phrase
    assert "0 results" in client.get("/search", params={"q": '"logging write-ahead"'}).text
    paged = client.get("/search", params={"q": "cache", "page": 3}).text
    assert "Page 3 of 3" in paged


@pytest.mark.parametrize("query", ['"unterminated', "claude-mem", "title:x:y", "AND", "(a OR", "NOT"])
def test_malformed_query_is_one_line_never_a_500(client: TestClient, query: str):
    page = client.get("/search", params={"q": query})
    assert page.status_code == 200
    error = re.search(r'id="search-error">([^<]*)<', page.text).group(1)
    assert "\n" not in error and error.startswith("search")


def test_punctuated_term_is_also_read_literally(client: TestClient):
    page = client.get("/search", params={"q": "write-ahead"}).text
    assert 'id="search-error"' in page and "1 result" in page and "<mark>write-ahead</mark>" in page


def test_cjk_falls_back_to_substring(client: TestClient):
    page = client.get("/search", params={"q": "缓存"}).text
    assert "substring match" in page and "<mark>缓存</mark>" in page and "1 result " in page


def test_cjk_terms_of_any_length_find_their_rows_through_the_side_index(world: World):
    site = make_site(world)
    client = client_for(site)
    long_term = client.get("/search", params={"q": "写回缓存"}).text  # 4 characters: a trigram MATCH
    assert "<mark>写回缓存</mark>" in long_term and "1 result " in long_term and "缓存策略的决定" in long_term
    two = client.get("/search", params={"q": "负载"}).text  # 2 characters: trigram cannot, the substring test can
    assert "<mark>负载</mark>" in two and "1 result " in two and "缓存策略的决定" in two
    assert "0 results" in client.get("/search", params={"q": "没有的词"}).text
    assert "0 results" in client.get("/search", params={"q": "缓存", "project": "api"}).text
    index = site.store.cjk_index()
    assert index is not None and index.rows == 1  # only the one row holding CJK text was indexed


def test_cjk_search_follows_rows_claude_mem_adds_and_deletes(world: World):
    client = client_for(make_site(world))
    assert "1 result " in client.get("/search", params={"q": "数据库"}).text  # builds the side index
    conn = sqlite3.connect(world.db)
    conn.execute("INSERT INTO observations (memory_session_id, project, type, title, narrative, created_at, "
                 "created_at_epoch) VALUES ('s-9', 'api', 'bugfix', 'Fresh from the worker', "
                 "'数据库连接池在高峰时耗尽。', '2026-04-01T00:00:00.000Z', 1775001600000)")
    conn.commit()
    three = client.get("/search", params={"q": "数据库"}).text
    assert "2 results" in three and "Fresh from the worker" in three and "<mark>数据库</mark>连接池" in three
    two = client.get("/search", params={"q": "耗尽"}).text
    assert "1 result " in two and "Fresh from the worker" in two
    conn.execute("DELETE FROM observations WHERE title = 'Fresh from the worker'")
    conn.commit()
    conn.close()
    gone = client.get("/search", params={"q": "耗尽"}).text
    assert "0 results" in gone and "Fresh from the worker" not in gone


# --- safety -------------------------------------------------------------------------------


def test_hostile_text_is_escaped_on_every_page(client: TestClient, world: World):
    hostile_id = db_count(world, "SELECT id FROM observations WHERE title = ?", HOSTILE)
    paths = [*TAB_PATHS, f"/observations/{hostile_id}", "/search?q=img", "/search?q=script",
             "/profiles?project=webapp&dev=alice"]
    seen = 0
    for path in paths:
        page = client.get(path).text
        assert "<img src=x" not in page and "<script>alert" not in page, path
        assert "<b>bold?</b>" not in page, path
        seen += page.count(ESCAPED)
    assert seen >= 6  # observations, detail, search, access, sync, distilled
    assert all(LEAKED_KEY not in client.get(path).text for path in paths)
    detail = client.get(f"/observations/{hostile_id}").text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in detail


def test_foreign_host_is_refused(client: TestClient):
    for host in ("evil.example", "evil.example:3737", "127.0.0.1:9999", "localhost.evil.example:3737", ""):
        answer = client.get("/", headers={"host": host})
        assert 400 <= answer.status_code < 500, host
        assert "Host" in answer.text or answer.status_code == 400
    for host in ("127.0.0.1:3737", "localhost:3737", "[::1]:3737"):
        assert client.get("/", headers={"host": host}).status_code == 200, host


def test_no_cors_and_a_strict_csp(client: TestClient):
    answer = client.get("/", headers={"origin": "https://evil.example"})
    assert not any(name.lower().startswith("access-control-") for name in answer.headers)
    assert answer.headers["content-security-policy"] == CSP
    assert "unsafe-inline" not in CSP and "script-src 'self'" in CSP
    preflight = client.options("/observations", headers={"origin": "https://evil.example",
                                                         "access-control-request-method": "GET"})
    assert preflight.status_code == 405
    assert not any(name.lower().startswith("access-control-") for name in preflight.headers)
    for path in TAB_PATHS:
        page = client.get(path).text
        for tag in re.findall(r"<script[^>]*>", page):
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert " on" not in " ".join(re.findall(r"<[a-z]+ [^>]*>", page)).replace(" only", ""), path
        assert "style=" not in page, path


def review(client: TestClient, **form: str):
    return client.post("/distilled/feedback", data=form, follow_redirects=False)


def test_review_needs_the_launch_token(client: TestClient, world: World):
    feedback = world.repo / "distilled" / "webapp" / "feedback.json"
    before = feedback.read_bytes()
    assert review(client, project="webapp", rule=RULE_IDS[0], status="accepted").status_code == 403
    assert review(client, project="webapp", rule=RULE_IDS[0], status="accepted", token="wrong").status_code == 403
    foreign = client.post("/distilled/feedback", headers={"origin": "https://evil.example"},
                          data={"project": "webapp", "rule": RULE_IDS[0], "status": "accepted",
                                "token": "launch-token-123"}, follow_redirects=False)
    assert foreign.status_code == 403
    assert review(client, project="webapp", rule="R-00000000", status="accepted",
                  token="launch-token-123").status_code == 404
    assert review(client, project="webapp", rule=RULE_IDS[0], status="deleted",
                  token="launch-token-123").status_code == 400
    assert feedback.read_bytes() == before

    done = review(client, project="webapp", rule=RULE_IDS[0], status="accepted", token="launch-token-123")
    assert done.status_code == 303 and done.headers["location"] == f"/distilled?project=webapp#rule-{RULE_IDS[0]}"
    entries = {e["ruleId"]: e for e in orjson.loads(feedback.read_bytes())["entries"]}
    assert entries[RULE_IDS[0]]["status"] == "accepted" and entries[RULE_IDS[0]]["reviewedBy"] == "alice"
    assert entries[RULE_IDS[2]]["status"] == "rejected"  # the earlier review is kept
    assert re.search(rf'id="rule-{RULE_IDS[0]}".*?class="st-accepted">accepted', client.get("/distilled").text, re.S)


def test_access_token_gates_every_request(world: World):
    client = client_for(make_site(world), access_token="a-long-enough-secret")
    assert client.get("/").status_code == 401
    assert client.get("/static/dashboard.css").status_code == 401
    assert client.get("/?token=wrong").status_code == 401
    entered = client.get("/observations?token=a-long-enough-secret&page=2", follow_redirects=False)
    assert entered.status_code == 303 and entered.headers["location"] == "/observations?page=2"
    cookie = entered.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/observations?page=2").status_code == 200  # the cookie now carries it


def test_non_loopback_policy_accepts_ip_literals_only():
    policy = HostPolicy(port=3737, any_ip_literal=True)
    assert policy.allows("192.168.1.20:3737") and policy.allows("[fe80::1]:3737")
    assert not policy.allows("rebind.evil.example:3737") and not policy.allows("192.168.1.20:80")


# --- data that is not there yet -------------------------------------------------------------


def test_tabs_explain_how_to_turn_missing_data_on(world: World, tmp_path: Path):
    empty_state = tmp_path / "empty-state"
    empty_state.mkdir()
    client = client_for(make_site(world, repo=False, state=empty_state))
    for path in TAB_PATHS:
        assert client.get(path).status_code == 200, path
    access = client.get("/access").text
    assert "No access data yet" in access and "mem-sync hook post-tool-use" in access
    sync = client.get("/sync").text
    assert "Nothing recorded yet" in sync and "--repo-dir" in sync
    for path in ("/profiles", "/insights", "/distilled", "/team"):
        assert "--repo-dir" in client.get(path).text, path
    assert "not installed yet" in client.get("/").text


def test_distilled_tab_without_distillation_explains_opt_in(world: World):
    shutil.rmtree(world.repo / "distilled")
    page = client_for(make_site(world)).get("/distilled").text
    assert "No distillation yet" in page and "allowExternalApi" in page and "mem-sync distill --project" in page


def test_a_new_observation_shows_without_restart(world: World):
    client = client_for(make_site(world))
    assert "63 observations" in client.get("/observations").text
    conn = sqlite3.connect(world.db)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("INSERT INTO observations (memory_session_id, project, type, title, created_at, created_at_epoch) "
                 "VALUES ('s-9', 'webapp', 'decision', 'Fresh from the worker', '2026-04-01T00:00:00.000Z', "
                 "1775001600000)")
    conn.commit()
    conn.close()
    page = client.get("/observations").text
    assert "64 observations" in page and "Fresh from the worker" in page
    assert "Fresh" in client.get("/search", params={"q": "fresh"}).text


def test_the_database_is_never_written(world: World):
    before = world.db.read_bytes()
    # a WAL database's readers open its -wal/-shm files (SQLite's doing); anything else would be ours
    def beside_db() -> list[str]:
        return sorted(path.name for path in world.db.parent.iterdir() if not path.name.endswith(("-wal", "-shm")))

    beside = beside_db()
    client = client_for(make_site(world))
    for path in [*TAB_PATHS, "/search?q=cache", "/search?q=缓存策略", "/search?q=缓存", "/observations/1"]:
        client.get(path)
    assert world.db.read_bytes() == before
    assert beside_db() == beside  # the CJK side index is a private temporary file elsewhere
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        open_claude_mem(world.db).execute("DELETE FROM observations")


# --- the command ------------------------------------------------------------------------------


def test_command_refuses_exposed_host_without_token(world: World):
    result = run_mem_sync(["dashboard", "--db", world.db, "--host", "0.0.0.0", "--port", "0", "--no-browser"])
    assert result.returncode != 0
    assert "warning" in result.stderr and "add --token" in result.stderr and "Traceback" not in result.stderr
    short = run_mem_sync(["dashboard", "--db", world.db, "--host", "0.0.0.0", "--token", "short", "--no-browser"])
    assert short.returncode != 0 and "at least 16" in short.stderr


def test_command_errors_are_one_line(world: World, tmp_path: Path):
    missing = run_mem_sync(["dashboard", "--db", tmp_path / "nope.db", "--port", "0", "--no-browser"])
    assert missing.returncode != 0 and "no claude-mem database at" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    not_db = tmp_path / "not.db"
    not_db.write_text("hello")
    wrong = run_mem_sync(["dashboard", "--db", not_db, "--port", "0", "--no-browser"])
    assert wrong.returncode != 0 and "is not a claude-mem database" in wrong.stderr
    no_repo = run_mem_sync(["dashboard", "--static", tmp_path / "site"])
    assert no_repo.returncode != 0 and "--repo-dir" in no_repo.stderr
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    refused = run_mem_sync(["dashboard", "--static", foreign, "--repo-dir", world.repo])
    assert refused.returncode != 0 and "not a dashboard build" in refused.stderr
    assert (foreign / "keep.txt").read_text() == "mine"


def test_help_does_not_import_the_web_stack():
    code = ("import sys\nfrom memsync.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'jinja2')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


# --- static build -----------------------------------------------------------------------------


def test_static_build_is_self_contained_and_escaped(world: World, tmp_path: Path):
    out = tmp_path / "site"
    result = run_mem_sync(["dashboard", "--static", out, "--repo-dir", world.repo],
                          env={"SOURCE_DATE_EPOCH": "1775000000"})
    assert result.returncode == 0, result.stderr
    assert "13 merged observations" in result.stdout
    pages = sorted(p.name for p in out.glob("*.html"))
    assert {"index.html", "observations.html", "search.html", "analytics.html", "access.html", "sync.html",
            "profiles.html", "insights.html", "distilled.html", "team.html"} <= set(pages)
    assert sum(1 for p in pages if p.startswith("observation~")) == 13
    for page in [*out.glob("*.html"), out / "search-index.js"]:
        html = page.read_text()
        assert LEAKED_KEY not in html, page.name  # withheld by the merge, so never published
    for page in out.glob("*.html"):
        html = page.read_text()
        assert "<img src=x" not in html, page.name
        assert not re.search(r'(src|href)="(https?:)?//', html), page.name  # nothing from a CDN
        assert 'action="/distilled/feedback"' not in html  # read only
    assert ESCAPED in (out / "distilled.html").read_text()
    assert "12 / 12" in (out / "index.html").read_text()
    index = (out / "search-index.js").read_text()
    assert index.startswith("window.MEMSYNC_SEARCH = ") and HOSTILE in index  # data, inserted as text by the script
    assert (out / "static" / "chart.js-LICENSE.md").is_file()
    again = run_mem_sync(["dashboard", "--static", out, "--repo-dir", world.repo],
                          env={"SOURCE_DATE_EPOCH": "1775000000"})
    assert again.returncode == 0, again.stderr  # a previous build is replaced whole


def test_the_real_command_serves_config_aware_pages(world: World):
    import http.client
    import os

    from memsync.devside.config import new_config_doc, project_entry, save_config

    doc = new_config_doc("alice", str(world.db))
    doc["projects"]["webapp"] = project_entry(repo="team/memory", auto_merge=False)
    doc["projects"]["docs"] = project_entry(repo="team/memory", mem_project="api", enabled=False)
    save_config(doc, world.config)
    process = subprocess.Popen(
        [sys.executable, "-m", "memsync", "dashboard", "--repo-dir", str(world.repo), "--port", "0",
         "--no-browser", "--project", "webapp"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "MEM_SYNC_CONFIG": str(world.config)})
    try:
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", process.stdout.readline()).group(1))

        def get(path: str, host: str) -> tuple[int, str]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", path, headers={"Host": host})
            answer = conn.getresponse()
            return answer.status, answer.read().decode()

        status, page = get("/", f"127.0.0.1:{port}")  # the database comes from the configuration
        assert status == 200 and "github:team/memory" in page and "pull request" in page
        assert "(disabled)" in page  # docs: configured, off
        api_local = db_count(world, "SELECT COUNT(*) FROM observations WHERE project = 'api'")
        local = re.search(r">docs</a>.*?<td class=\"num\">(\d+)</td>", page, re.S).group(1)
        assert int(local) == api_local  # counted under its claude-mem name
        assert 'href="/observations?project=webapp"' in page  # --project: where the list tabs open
        assert get("/", f"rebind.evil.example:{port}")[0] == 400
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_search_caches_stay_bounded(world: World):
    site = make_site(world)
    client = client_for(site)
    for n in range(300):
        assert client.get("/search", params={"q": f"cache OR term{n}"}).status_code == 200
    kinds = [key[0] for key in site.store._cache if isinstance(key, tuple)]
    assert kinds.count("fts-count") <= 256 and kinds.count("fts-ranked") <= 32
    paged = client.get("/search", params={"q": "cache", "page": 2}).text  # ranked ids reused per page
    assert "Page 2 of 3" in paged and paged.count('class="sr"') == 20

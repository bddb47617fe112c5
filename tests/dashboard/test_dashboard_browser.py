"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

The live server is the real ``mem-sync dashboard`` process on 127.0.0.1. Screenshots of
every tab land in ``$MEM_SYNC_SCREENSHOTS`` (else a temp folder); the path is printed.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from clirun import run_mem_sync
from dashboard.world import HOSTILE, RULE_IDS, World

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.claude_mem]
if not CHROMIUM.exists():
    pytestmark.append(pytest.mark.skip(reason="no /usr/bin/chromium (apt-get install chromium; .ci/run does it)"))
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

# (tab path, a figure the page must show, canvases that must be drawn)
LIVE_TABS = [
    ("", "Observations", ["chart-overview-types"]),
    ("observations", "63 observations", []),
    ("search?q=cache", "results for", []),
    ("analytics", "Type distribution", ["chart-types", "chart-timeline", "chart-top", "chart-devs"]),
    ("access", "Access events", ["chart-tools"]),
    ("sync", "Merges (the merge bot", ["chart-sync", "chart-merges"]),
    ("profiles?project=webapp&dev=alice", "Survival rate", ["chart-spectrum", "chart-concepts", "chart-tempo",
                                                             "chart-files"]),
    ("insights?project=webapp", "Knowledge gaps", ["chart-team-types", "chart-team-concepts"]),
    ("distilled", "Include the tenant in every cache key", ["chart-rule-status"]),
    ("team", "merged of a cap of 12", []),
]


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("MEM_SYNC_SCREENSHOTS") or tempfile.mkdtemp(prefix="mem-sync-screenshots-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\ndashboard screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as driver:
        chrome = driver.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox",
            # a DNS-rebinding attacker's name that resolves to our loopback server
            "--host-resolver-rules=MAP rebind.evil.test 127.0.0.1",
        ])
        yield chrome
        chrome.close()


@pytest.fixture
def server(world: World) -> Iterator[str]:
    env = {**os.environ, "MEM_SYNC_CONFIG": str(world.config)}
    process = subprocess.Popen(
        [sys.executable, "-m", "memsync", "dashboard", "--db", str(world.db), "--repo-dir", str(world.repo),
         "--port", "0", "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not match:
        process.kill()
        raise AssertionError(f"dashboard did not start: {line}{process.stderr.read()}")
    yield match.group(0)
    process.terminate()
    process.wait(timeout=10)


class Page:
    """A browser tab that records dialogs (an XSS would fire one) and CSP/console errors."""

    def __init__(self, browser: object) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def drawn(self, canvas_id: str) -> bool:
        # Chart.js drew something: the canvas holds non-transparent pixels
        return self.page.evaluate("""(id) => {
            const c = document.getElementById(id);
            if (!c || !c.width || !c.height) return false;
            const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
            return false;
        }""", canvas_id)


def test_every_tab_renders_draws_and_stays_inert(browser: object, server: str, shots: Path):
    tab = Page(browser)
    for path, figure, canvases in LIVE_TABS:
        response = tab.page.goto(server + path)
        assert response.status == 200, path
        assert figure in tab.page.inner_text("main"), path
        for canvas in canvases:
            assert tab.drawn(canvas), f"{path}: {canvas} is blank"
        name = (path.split("?")[0] or "overview")
        tab.page.screenshot(path=str(shots / f"live-{name}.png"), full_page=True)
    assert tab.page.locator("img").count() == 0
    assert tab.dialogs == [] and tab.errors == []


def test_click_opens_detail_and_hostile_text_stays_text(browser: object, server: str, shots: Path):
    tab = Page(browser)
    tab.page.goto(server + "observations")
    hostile_row = tab.page.locator("tr.row", has_text="onerror").first
    hostile_row.locator("td.num").first.click()  # the row itself, not its link: dashboard.js navigates
    tab.page.wait_for_url(re.compile(r"/observations/\d+$"))
    assert tab.page.inner_text("h1").endswith(HOSTILE)
    assert "<script>alert(2)</script>" in tab.page.inner_text("#field-narrative")
    tab.page.screenshot(path=str(shots / "live-observation-hostile.png"), full_page=True)
    assert tab.page.locator("img").count() == 0 and tab.page.locator("main b").count() == 0
    for path, clickable in (("analytics", "#top-table a"), ("access", "#top-table tr.row td.num"),
                            ("search?q=wal", "#sr-results a.sr")):
        tab.page.goto(server + path)
        tab.page.locator(clickable).first.click()
        tab.page.wait_for_url(re.compile(r"/observations/\d+$"))
        assert tab.page.locator("#detail").is_visible(), path
    assert tab.dialogs == [] and tab.errors == []


def test_search_highlights_and_explains_bad_queries(browser: object, server: str, shots: Path):
    tab = Page(browser)
    tab.page.goto(server + "search")
    tab.page.fill("#sq", '"write-ahead logging" OR img')
    tab.page.click("#search-form button")
    tab.page.wait_for_selector("#sr-results mark")
    marks = tab.page.locator("#sr-results mark").all_inner_texts()
    assert "write-ahead logging" in marks and "img" in marks
    assert "2 results" in tab.page.inner_text("#sr-info")
    tab.page.screenshot(path=str(shots / "live-search.png"), full_page=True)
    tab.page.fill("#sq", '"unclosed')
    tab.page.click("#search-form button")
    assert tab.page.inner_text("#search-error").startswith("search syntax error")
    assert tab.dialogs == [] and tab.page.locator("img").count() == 0


def test_review_buttons_write_feedback(browser: object, server: str, world: World):
    tab = Page(browser)
    tab.page.goto(server + "distilled")
    tab.page.locator(f"#rule-{RULE_IDS[1]} button", has_text="Accept").click()
    tab.page.wait_for_url(re.compile(r"/distilled\?project=webapp"))
    assert tab.page.inner_text(f"#rule-{RULE_IDS[1]} .st-accepted").startswith("accepted")
    assert '"status": "accepted"' in (world.repo / "distilled" / "webapp" / "feedback.json").read_text()


def test_rebinding_host_is_refused(browser: object, server: str):
    tab = Page(browser)
    port = server.rsplit(":", 1)[1].strip("/")
    response = tab.page.goto(f"http://rebind.evil.test:{port}/observations")
    assert 400 <= response.status < 500
    assert "Observation" not in tab.page.content()


# --- the static build ---------------------------------------------------------------------

STATIC_TABS = [
    ("index.html", "Merged observations", ["chart-overview-types"]),
    ("observations.html", "13 observations", []),
    ("analytics.html", "Type distribution", ["chart-types", "chart-timeline", "chart-top", "chart-devs"]),
    ("access.html", "Most used by the team", ["chart-access-top"]),
    ("sync.html", "Merges (the merge bot", ["chart-merges"]),
    ("profiles.html", "Survival rate", ["chart-spectrum"]),
    ("insights.html", "Knowledge gaps", ["chart-team-types"]),
    ("distilled.html", "Include the tenant", ["chart-rule-status"]),
    ("team.html", "merged of a cap of 12", []),
]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def static_site(world: World, tmp_path: Path) -> Path:
    out = tmp_path / "site"
    result = run_mem_sync(["dashboard", "--static", out, "--repo-dir", world.repo])
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def static_server(static_site: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(static_site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_static_pages_same_from_file_and_http(browser: object, static_site: Path, static_server: str, shots: Path):
    tab = Page(browser)
    for name, figure, canvases in STATIC_TABS:
        texts = []
        for base in (static_site.as_uri() + "/", static_server):
            tab.page.goto(base + name)
            assert figure in tab.page.inner_text("main"), (base, name)
            for canvas in canvases:
                assert tab.drawn(canvas), (base, name, canvas)
            texts.append(tab.page.inner_text("body"))
        assert texts[0] == texts[1], name
        tab.page.screenshot(path=str(shots / f"static-{name.removesuffix('.html')}.png"), full_page=True)
    tab.page.goto(static_site.as_uri() + "/observations.html")
    tab.page.locator("tr.row td.num").first.click()
    tab.page.wait_for_url(re.compile(r"observation~\d+\.html$"))
    assert tab.page.locator("#detail").is_visible()
    assert tab.dialogs == [] and tab.errors == []


@pytest.mark.parametrize("origin", ["file", "http"])
def test_static_search_highlights(browser: object, static_site: Path, static_server: str, shots: Path, origin: str):
    tab = Page(browser)
    base = static_site.as_uri() + "/" if origin == "file" else static_server
    tab.page.goto(base + "search.html")
    tab.page.fill("#sq", "tenant OR img")
    tab.page.click("#search-form button")
    tab.page.wait_for_selector("#sr-results mark")
    marks = {m.lower() for m in tab.page.locator("#sr-results mark").all_inner_texts()}
    assert marks == {"tenant", "img"}
    info = tab.page.inner_text("#sr-info")
    tab.page.fill("#sq", "tenant NOT decision")
    tab.page.click("#search-form button")
    tab.page.wait_for_selector("#sr-info")
    assert tab.page.inner_text("#sr-info") != info
    tab.page.fill("#sq", '"unclosed')
    tab.page.click("#search-form button")
    assert "search syntax error" in tab.page.inner_text("#search-error")
    if origin == "file":
        tab.page.fill("#sq", "img")
        tab.page.click("#search-form button")
        tab.page.wait_for_selector("#sr-results mark")
        tab.page.screenshot(path=str(shots / "static-search.png"), full_page=True)
    assert tab.dialogs == [] and tab.page.locator("img").count() == 0 and tab.errors == []

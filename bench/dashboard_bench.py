"""How fast `mem-sync dashboard` answers on a 100k-observation claude-mem database.

    PYTHONPATH=src python bench/dashboard_bench.py [--observations 100000] [--runs 40]
        [--no-theirs] [--no-browser]

- The database is made by the pinned claude-mem's own code (its worker's DB startup, then
  its SessionStore.storeObservation for every row; scripts/make-claude-mem-db.cjs) and
  cached under bench/.work/. An access log (50k accesses) and a sync history sit beside it,
  and a shared repository merged by the real `mem-sync ci-merge` (tests/dashboard/world.py).
- The real `mem-sync dashboard` process is started on 127.0.0.1; every page is fetched
  `--runs` times after a warm-up, over one keep-alive connection, and p50/p95 printed.
- Floors measured in the same run: a static file from the same server (HTTP + ASGI alone)
  and the search's FTS5 query run directly in this process (the SQL alone).
- Server memory: VmHWM (peak RSS) of the server process after the run.
- First render in Chromium (if /usr/bin/chromium and playwright exist): navigation start to
  the load event, per tab.
- claude-mem-sync's own dashboard (lopadova/claude-mem-sync, run from a snapshot with Bun
  from the claude-mem install, zod from npm) on a copy of the same database and the same
  questions: nothing of it is committed; it lives under bench/.work/.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work"
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from claude_mem.claude_mem_db import bun_binary, install_claude_mem, make_db, seed_row  # noqa: E402
from memsync.dashboard.store import RANK_LIMIT  # noqa: E402

TARGET_PAGE_MS = 50.0
TARGET_SEARCH_MS = 30.0
TARGET_RSS_MB = 150.0
TARGET_RENDER_MS = 1000.0
DAY = 86_400_000
WORDS = ("cache retry tenant gateway schema migration index token session worker queue lock timeout "
         "payload render route handler client server config deploy rollback metric trace log error "
         "budget shard replica snapshot backup restore parser lexer compiler bundle import export "
         "hook plugin search vector embedding prompt model context window memory observation").split()
TYPES = ("decision", "bugfix", "feature", "discovery", "refactor", "change")
MIRROR = Path("/work/.mirror/lopadova+claude-mem-sync/repo")


def build_rows(count: int, now_ms: int) -> list[dict]:
    rng = random.Random(20)
    rows = []
    for i in range(count):
        words = rng.sample(WORDS, 12)
        narrative = " ".join(words[3:]) + f". Observed while working on {words[0]} for ticket {i}."
        if i % 100 == 7:  # one in a hundred written in Chinese, the term inside a longer run
            narrative = f"我们在第{i}号工单中决定调整缓存策略以减少数据库负载。"
        rows.append(seed_row(
            f"{words[0].title()} {words[1]} {words[2]} #{i}", session=f"s-{i // 40}",
            project=("webapp", "api", "infra")[i % 3], type=TYPES[rng.randrange(len(TYPES))],
            narrative=narrative,
            created_at_epoch=now_ms - rng.randrange(730) * DAY - rng.randrange(DAY),
            facts=(f"{words[4]} needs {words[5]}",), concepts=(rng.choice(("pattern", "gotcha", "how-it-works")),),
            files_read=(f"src/{words[6]}/{words[7]}.py",)))
    return rows


def database(count: int) -> Path:
    path = WORK / f"claude-mem-{count}-v2.db"
    if path.is_file():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    make_db(path, build_rows(count, int(time.time() * 1000)))
    print(f"built {path.name} with claude-mem's own code in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def side_files(state: Path, db: Path) -> None:
    state.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    ids = [row[0] for row in conn.execute("SELECT id FROM observations ORDER BY id")]
    conn.close()
    log = state / "access-log.sqlite"
    if not log.exists():
        now = int(time.time() * 1000)
        acc = sqlite3.connect(log)
        acc.execute("PRAGMA journal_mode=WAL")
        acc.execute("CREATE TABLE accesses (observation_id INTEGER NOT NULL, accessed_at INTEGER NOT NULL, "
                    "session_id TEXT, tool_name TEXT, project TEXT)")
        acc.execute("CREATE INDEX idx_accesses_obs ON accesses(observation_id)")
        acc.execute("CREATE INDEX idx_accesses_at ON accesses(accessed_at)")
        hot = rng.sample(ids, 5000)
        acc.executemany("INSERT INTO accesses VALUES (?,?,?,?,?)", [
            (rng.choice(hot), now - rng.randrange(180 * DAY), f"sess-{k % 300}",
             "mcp__plugin_claude-mem_mcp-search__search", "webapp") for k in range(50_000)])
        acc.commit()
        acc.close()
    history = state / "sync-history.jsonl"
    if not history.exists():
        lines = []
        for k in range(400):
            at = int(time.time() * 1000) - k * DAY
            lines.append(json.dumps({"at": "", "atEpoch": at, "kind": ("export", "import", "maintain")[k % 3],
                                     "project": "webapp", "result": "ok", "count": 10 + k % 7, "detail": "bench"}))
        history.write_text("\n".join(lines) + "\n")


def shared_repo() -> Path:
    target = WORK / "shared-world"
    if not (target / "shared").is_dir():
        from dashboard.world import build_repo

        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        build_repo(target)
    return target / "shared"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def measure(port: int, paths: list[str], runs: int, warm: int = 3) -> dict[str, tuple[float, float, int]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out = {}
    for path in paths:
        times = []
        status = 0
        for k in range(warm + runs):
            started = time.perf_counter()
            conn.request("GET", path, headers={"Host": f"127.0.0.1:{port}"})
            response = conn.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            status = response.status
            if k >= warm:
                times.append(elapsed)
        out[path] = (statistics.median(times), percentile(times, 95), status)
    conn.close()
    return out


def fetch(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Host": f"127.0.0.1:{port}"})
    body = conn.getresponse().read().decode("utf-8", "replace")
    conn.close()
    return body


def our_hits(port: int, query: str) -> str:
    page = fetch(port, "/search?" + urllib.parse.urlencode({"q": query}))
    found = re.search(r'id="sr-info">([^<]*?) results? for', page)
    return found.group(1).replace(",", "") if found else "error"


def their_query(query: str, plus: bool = False) -> str:
    # Its server decodes with decodeURIComponent, which leaves "+" alone: measured with %20
    # (its FTS path); its own page sends "+" (URLSearchParams), reported separately.
    return "/api/search?" + (urllib.parse.urlencode({"q": query}) if plus else "q=" + urllib.parse.quote(query))


def their_hits(port: int, query: str) -> str:
    found = []
    for plus in (False, True):
        doc = json.loads(fetch(port, their_query(query, plus)))
        found.append(str(doc.get("total")) + (" via LIKE fallback" if doc.get("fallback") else ""))
    return found[0] + ("" if found[1] == found[0] else f" (as its page sends it: {found[1]})")


def peak_rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def wait_port(process: subprocess.Popen, pattern: str, timeout: float = 60) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {process.stderr.read()[-2000:]}")
            continue
        match = re.search(pattern, line)
        if match:
            return int(match.group(1))
    raise RuntimeError("server did not start")


OUR_PAGES = [
    "/", "/observations", "/observations?page=1000", "/observations?project=api&type=bugfix&page=3",
    "/observations/54321", "/analytics", "/analytics?project=webapp", "/access", "/sync", "/profiles",
    "/insights", "/distilled", "/team",
]
SEARCHES = ["cache", "cache AND retry", "cache OR gateway", "tenant NOT cache", '"retry budget"', "title:cache",
            "缓存", "没有的词"]  # CJK: a term in 1% of rows, and one in none (a full scan)


def run_ours(db: Path, state: Path, repo: Path, runs: int) -> dict:
    env = {**os.environ, "MEM_SYNC_CONFIG": str(state / "config.json"), "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen([sys.executable, "-m", "memsync", "dashboard", "--db", str(db), "--repo-dir", str(repo),
                                "--port", "0", "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        port = wait_port(process, r"http://127\.0\.0\.1:(\d+)/")
        pages = measure(port, OUR_PAGES, runs)
        searches = measure(port, ["/search?" + urllib.parse.urlencode({"q": q}) for q in SEARCHES], runs)
        floor = measure(port, ["/static/dashboard.css"], runs)
        hits = {q: our_hits(port, q) for q in SEARCHES}
        peak, current = peak_rss_mb(process.pid)
        render = first_render(f"http://127.0.0.1:{port}/", [p for p in OUR_PAGES if "?" not in p][:13]
                              + ["/search?q=cache"])
    finally:
        process.terminate()
        process.wait(timeout=10)
    return {"pages": pages, "searches": searches, "floor": floor, "rss": (peak, current), "render": render,
            "hits": hits}


def fts_floor(db: Path, runs: int) -> dict[str, float]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    out = {}
    for q in SEARCHES[:-2]:
        times = []
        for k in range(runs + 3):
            started = time.perf_counter()
            total = conn.execute("SELECT COUNT(*) FROM observations_fts WHERE observations_fts MATCH ?",
                                 (q,)).fetchone()[0]
            order = "f.rank" if total <= RANK_LIMIT else "f.rowid DESC"  # what the dashboard runs
            conn.execute("SELECT o.id, snippet(observations_fts, -1, '[', ']', '…', 24) FROM observations_fts f "
                         f"JOIN observations o ON o.id = f.rowid WHERE observations_fts MATCH ? ORDER BY {order} "
                         "LIMIT 20", (q,)).fetchall()
            if k >= 3:
                times.append((time.perf_counter() - started) * 1000)
        out[q] = percentile(times, 95)
    conn.close()
    return out


def first_render(base: str, paths: list[str]) -> dict[str, float] | str:
    if not Path("/usr/bin/chromium").exists():
        return "skipped: no /usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "skipped: pip install playwright"
    out = {}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(base)  # warm the browser's cache of the static files, as a second visit would
        for path in paths:
            page.goto(base.rstrip("/") + path, wait_until="load")
            out[path] = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                                      " return n.loadEventEnd - n.startTime; }")
        browser.close()
    return out


# --- claude-mem-sync, run from a snapshot with Bun ---------------------------------------------

THEIR_PATHS = ["/", "/api/overview", "/api/observations?page=1&limit=50", "/api/observations?page=1000&limit=50",
               "/api/observations/54321", "/api/analytics/types", "/api/analytics/timeline",
               "/api/analytics/scores?project=webapp", "/api/analytics/devs", "/api/access/heatmap?months=6",
               "/api/access/top?limit=20", "/api/sync/history"]


def their_checkout() -> Path:
    target = WORK / "claude-mem-sync"
    if (target / "node_modules" / "zod").is_dir():
        return target
    if not (MIRROR / "HEAD").exists() and not (MIRROR / ".git").exists():
        raise RuntimeError(f"no snapshot of lopadova/claude-mem-sync at {MIRROR}")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(MIRROR), "archive", "HEAD"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--ignore-scripts",
                    "--omit=optional", "zod@3.25.76"], cwd=target, capture_output=True, check=True)
    return target


def run_theirs(db: Path, runs: int) -> dict:
    checkout = their_checkout()
    bun = bun_binary(install_claude_mem())
    home = WORK / "their-home"
    shutil.rmtree(home, ignore_errors=True)
    (home / ".claude-mem-sync").mkdir(parents=True)
    copy = WORK / "their-claude-mem.db"
    shutil.copyfile(db, copy)
    config = {"global": {"devName": "bench", "claudeMemDbPath": str(copy)},
              "projects": {name: {"remote": {"repo": "team/memory"}} for name in ("webapp", "api", "infra")}}
    (home / ".claude-mem-sync" / "config.json").write_text(json.dumps(config))
    port = 38000 + os.getpid() % 1000
    process = subprocess.Popen([str(bun), "src/cli.ts", "dashboard", "--port", str(port)], cwd=checkout,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "HOME": str(home)})
    try:
        wait_port(process, r"localhost:(\d+)")
        pages = measure(port, THEIR_PATHS, runs)
        searches = measure(port, [their_query(q) for q in SEARCHES], runs)
        hits = {q: their_hits(port, q) for q in SEARCHES}
        peak, current = peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)
    return {"pages": pages, "searches": searches, "rss": (peak, current), "hits": hits}


def show(title: str, rows: dict[str, tuple[float, float, int]], target: float, floor: float | None = None) -> None:
    print(f"\n{title}")
    print(f"  {'request':<48} {'p50 ms':>8} {'p95 ms':>8} {'status':>6}  {'vs target':>9}"
          + (f"  {'x floor':>7}" if floor else ""))
    for path, (p50, p95, status) in rows.items():
        flag = "ok" if p95 <= target else "OVER"
        extra = f"  {p95 / floor:7.1f}" if floor else ""
        print(f"  {urllib.parse.unquote(path)[:48]:<48} {p50:8.1f} {p95:8.1f} {status:>6}  {flag:>9}{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--no-theirs", action="store_true")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    if args.no_browser:
        global first_render
        first_render = lambda base, paths: "skipped (--no-browser)"  # noqa: E731
    db = database(args.observations)
    state = WORK / f"state-{args.observations}-v2"
    side_files(state, db)
    repo = shared_repo()
    print(f"database: {db} ({db.stat().st_size / 1e6:.0f} MB, {args.observations} observations); "
          f"{args.runs} warm runs per request")

    ours = run_ours(db, state, repo, args.runs)
    floor_p95 = ours["floor"]["/static/dashboard.css"][1]
    show("mem-sync dashboard: pages (target p95 <= 50 ms)", ours["pages"], TARGET_PAGE_MS, floor_p95)
    show("mem-sync dashboard: full-text search pages (target p95 <= 30 ms)", ours["searches"], TARGET_SEARCH_MS,
         floor_p95)
    print(f"\n  floor, same server: GET /static/dashboard.css p95 {floor_p95:.1f} ms (x floor = p95 / this)")
    sql = fts_floor(db, args.runs)
    print("  floor, the search's SQL alone in-process (count + a page of 20 with snippets), p95 ms: "
          + ", ".join(f"{q!r} {v:.1f}" for q, v in sql.items()))
    print("  results found: " + ", ".join(f"{q!r} {n}" for q, n in ours["hits"].items()))
    peak, current = ours["rss"]
    print(f"  server RSS: peak {peak:.0f} MB, now {current:.0f} MB (target <= {TARGET_RSS_MB:.0f} MB): "
          + ("ok" if peak <= TARGET_RSS_MB else "OVER"))
    render = ours["render"]
    if isinstance(render, dict):
        worst = max(render.values())
        print(f"  first render in Chromium (navigation to load event), worst tab {worst:.0f} ms "
              f"(target <= {TARGET_RENDER_MS:.0f}): " + ", ".join(f"{p} {v:.0f}" for p, v in render.items()))
    else:
        print(f"  first render: {render}")

    if args.no_theirs:
        return
    try:
        theirs = run_theirs(db, args.runs)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as error:
        print(f"\nclaude-mem-sync's dashboard could not run here: {error}")
        return
    show("claude-mem-sync dashboard (Bun), same database", theirs["pages"], TARGET_PAGE_MS)
    show("claude-mem-sync dashboard: search", theirs["searches"], TARGET_SEARCH_MS)
    tpeak, tcurrent = theirs["rss"]
    print(f"  their server RSS: peak {tpeak:.0f} MB, now {tcurrent:.0f} MB")
    print("\nratios (theirs / ours, p95; above 1 means ours is faster):")
    pairs = [("observations page 1", "/api/observations?page=1&limit=50", "/observations"),
             ("observations page 1000", "/api/observations?page=1000&limit=50", "/observations?page=1000"),
             ("observation detail", "/api/observations/54321", "/observations/54321"),
             ("overview", "/api/overview", "/")]
    for label, their_path, our_path in pairs:
        print(f"  {label:<28} {theirs['pages'][their_path][1] / ours['pages'][our_path][1]:6.2f}")
    scores = theirs["pages"]["/api/analytics/scores?project=webapp"][1]
    print(f"  {'scores (their analytics)':<28} {scores / ours['pages']['/analytics?project=webapp'][1]:6.2f}"
          "  (vs our whole Analytics page)")
    for q in SEARCHES:
        key = urllib.parse.urlencode({"q": q})
        ratio = theirs['searches'][their_query(q)][1] / ours['searches']['/search?' + key][1]
        print(f"  search {q!r:<21} {ratio:6.2f}   results: ours {ours['hits'][q]}, theirs {theirs['hits'][q]}")
    print(f"  server peak RSS             {tpeak / peak:6.2f}")


if __name__ == "__main__":
    main()

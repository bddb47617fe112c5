"""A developer's world for the dashboard tests, built with the real parts.

- a claude-mem database made and seeded by the pinned claude-mem's own code;
- a shared repository (a clone of a local bare origin) where two developers' exports were
  merged by the real ``mem-sync ci-merge --publish push`` twice, one file quarantined;
- the access log, sync history and distilled output in the formats agreed for this
  release (their writers are built elsewhere; these files follow the same contract).
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from builders import observation, write_contribution
from claude_mem.claude_mem_db import make_db, seed_row
from clirun import run_mem_sync

HOSTILE = "<img src=x onerror=alert(1)>"
DAY = 86_400_000
NOW_MS = 1_775_000_000_000  # 2026-03-31
RULE_IDS = ("R-0a1b2c3d", "R-1f2e3d4c", "R-99aa88bb")
LEAKED_KEY = "AKIA" + "QWERTYUIOPASDFGH"  # the merge's secret scanner withholds it


@dataclass(frozen=True)
class World:
    db: Path
    repo: Path
    origin: Path
    state: Path  # mem-sync's state directory (beside the config)
    config: Path


def seed_rows() -> list[dict]:
    rows = []
    types = ["decision", "bugfix", "feature", "discovery", "refactor", "change"]
    for i in range(60):
        rows.append(seed_row(
            f"Observation {i:02d} about {'caching' if i % 3 == 0 else 'routing'}",
            session=f"s-{i % 4}", project="webapp" if i % 5 else "api",
            type=types[i % len(types)], narrative=f"We decided {i} things about the cache layer and retries.",
            created_at_epoch=NOW_MS - (i * 3) * DAY, concepts=("pattern", "gotcha") if i % 2 else ("how-it-works",),
            files_read=(f"src/mod{i % 7}.py",)))
    rows.append(seed_row("Use WAL mode for the SQLite store", session="s-9", project="webapp", type="decision",
                         narrative="Concurrent readers need write-ahead logging; the connection pool relies on it.",
                         created_at_epoch=NOW_MS - 2 * DAY, facts=("readers never block writers",)))
    rows.append(seed_row(HOSTILE, session="s-9", project="webapp", type="discovery",
                         narrative=f"<script>alert(2)</script> and {HOSTILE} inside the narrative",
                         subtitle="<b>bold?</b>", created_at_epoch=NOW_MS - DAY, facts=(HOSTILE,),
                         concepts=("security",)))
    rows.append(seed_row("缓存策略的决定", session="s-9", project="webapp", type="decision",
                         narrative="我们使用写回缓存来减少数据库负载。", created_at_epoch=NOW_MS - 3 * DAY))
    return rows


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def build_repo(tmp: Path) -> tuple[Path, Path]:
    origin = tmp / "origin.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(origin), cwd=tmp)
    work = tmp / "shared"
    git("clone", "--quiet", str(origin), str(work), cwd=tmp)
    git("checkout", "--quiet", "-B", "main", cwd=work)
    base = 1_774_000_000_000
    alice = [observation(f"Alice decision {i}", session="a-1", type="decision" if i % 2 else "bugfix",
                         created_at_epoch=base + i * DAY, project="webapp",
                         concepts='["pattern","caching"]' if i % 2 else '["gotcha"]',
                         narrative=f"Alice found that the cache key {i} must include the tenant.")
             for i in range(8)]
    alice.append(observation(HOSTILE, session="a-1", type="discovery", created_at_epoch=base + 20 * DAY,
                             project="webapp", narrative=f"payload {HOSTILE} #keep", access_count=7))
    alice.append(observation("Keep the retry budget #keep", session="a-1", type="change",
                             created_at_epoch=base + 21 * DAY, project="webapp", access_count=3))
    write_contribution(work, alice, dev="alice", project="webapp", stamp="2026-03-20T10-00-00",
                       exported_at_epoch=1_774_100_000)
    bob = [observation(f"Bob feature {i}", session="b-1", type="feature", created_at_epoch=base + i * DAY,
                       project="webapp", concepts='["routing"]',
                       narrative=f"Bob routed request {i} through the gateway.")
           for i in range(5)]
    write_contribution(work, bob, dev="bob", project="webapp", stamp="2026-03-21T10-00-00",
                       exported_at_epoch=1_774_200_000)
    write_contribution(work, [observation("API decision", session="c-1", project="api", type="decision",
                                          created_at_epoch=base)],
                       dev="carol", project="api", stamp="2026-03-21T11-00-00", exported_at_epoch=1_774_200_500)
    _commit_and_push(work, "exports from alice, bob and carol")
    _merge(work)
    # a second round: one more export, and a file the merge must quarantine
    write_contribution(work, [observation("Bob second thought", session="b-2", type="decision",
                                          created_at_epoch=base + 30 * DAY, project="webapp"),
                              observation("Deploy notes", session="b-2", type="change", project="webapp",
                                          created_at_epoch=base + 31 * DAY,
                                          narrative=f"aws_access_key_id = {LEAKED_KEY}")],
                       dev="bob", project="webapp", stamp="2026-03-25T10-00-00", exported_at_epoch=1_774_500_000)
    broken = work / "contributions" / "webapp" / "bob" / "2026-03-26T10-00-00.json"
    broken.write_text("{not json")
    _commit_and_push(work, "more exports")
    _merge(work)
    _write_distilled(work)
    return work, origin


def _commit_and_push(work: Path, message: str) -> None:
    git("add", "-A", cwd=work)
    git("-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "--quiet", "-m", message, cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)


def _merge(work: Path) -> None:
    result = run_mem_sync(["ci-merge", "--repo", work, "--publish", "push", "--bot-name", "merge-bot",
                           "--cap", "12"])
    assert result.returncode == 0, result.stdout + result.stderr


def _write_distilled(work: Path) -> None:
    folder = work / "distilled" / "webapp"
    folder.mkdir(parents=True)
    rules = {"version": 1, "project": "webapp", "generatedAt": "2026-03-30T00:00:00.000Z", "rules": [
        {"id": RULE_IDS[0], "rule": "Include the tenant in every cache key", "rationale": "Two incidents.",
         "category": "caching", "confidence": 0.9, "sourceCount": 4, "sourceTypes": ["decision", "bugfix"],
         "typeBreakdown": {"decision": 2, "bugfix": 2}, "devDiversity": 1,
         "evidence": [["a-1", "Alice decision 1", 1_774_086_400_000]], "files": ["src/app.py"]},
        {"id": RULE_IDS[1], "rule": f"Never render {HOSTILE} unescaped", "rationale": "XSS.",
         "category": "security", "confidence": 0.7, "sourceCount": 1, "sourceTypes": ["discovery"],
         "typeBreakdown": {"discovery": 1}, "devDiversity": 1, "evidence": [], "files": []},
        {"id": RULE_IDS[2], "rule": "Route requests through the gateway", "rationale": "Bob's features.",
         "category": "routing", "confidence": 0.6, "sourceCount": 5, "sourceTypes": ["feature"],
         "typeBreakdown": {"feature": 5}, "devDiversity": 1, "evidence": [], "files": []},
    ]}
    (folder / "rules.json").write_bytes(orjson.dumps(rules, option=orjson.OPT_INDENT_2))
    (folder / "rules.md").write_text("# Rules\n\n- Include the tenant in every cache key\n")
    (folder / "knowledge-base.md").write_text("# Knowledge base\n\n## Caching\nTenant in keys.\n")
    report = {"project": "webapp", "generatedAt": "2026-03-30T00:00:00.000Z", "generatedAtEpoch": 1_774_828_800_000,
              "inputStats": {"totalObservations": 12, "uniqueDevs": 2, "typeBreakdown": {"decision": 5},
                             "dateRange": {"oldest": "2026-03-20", "newest": "2026-03-29"}},
              "outputStats": {"rulesGenerated": 3, "knowledgeSections": 2, "avgConfidence": 0.733},
              "tokenUsage": {"inputTokens": 5000, "outputTokens": 800, "totalTokens": 5800, "estimatedCost": 0.0213},
              "model": "claude-sonnet-4-5"}
    (folder / "distillation-report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    feedback = {"project": "webapp", "updatedAt": "2026-03-30T00:00:00.000Z",
                "entries": [{"ruleId": RULE_IDS[2], "status": "rejected", "reviewedBy": "bob",
                             "reviewedAt": "2026-03-30T00:00:00.000Z"}]}
    (folder / "feedback.json").write_bytes(orjson.dumps(feedback, option=orjson.OPT_INDENT_2))
    _commit_and_push(work, "distill webapp")


def write_access_log(state: Path, db: Path) -> dict[int, int]:
    """accesses rows (the agreed schema) for a few real observation ids; returns id -> count."""
    conn = sqlite3.connect(db)
    ids = [row[0] for row in conn.execute("SELECT id FROM observations ORDER BY id")]
    hostile = conn.execute("SELECT id FROM observations WHERE title = ?", (HOSTILE,)).fetchone()[0]
    conn.close()
    wanted = {ids[0]: 9, ids[1]: 4, hostile: 6, ids[5]: 1}
    log = sqlite3.connect(state / "access-log.sqlite")
    log.execute("PRAGMA journal_mode=WAL")
    log.execute("CREATE TABLE accesses (observation_id INTEGER NOT NULL, accessed_at INTEGER NOT NULL, "
                "session_id TEXT, tool_name TEXT, project TEXT)")
    log.execute("CREATE INDEX idx_accesses_obs ON accesses(observation_id)")
    log.execute("CREATE INDEX idx_accesses_at ON accesses(accessed_at)")
    rows = []
    now = int(time.time() * 1000)  # the heatmap covers the 26 weeks before today
    for obs_id, count in wanted.items():
        for k in range(count):
            rows.append((obs_id, now - (k * 5 + obs_id % 3) * DAY, "sess", "mcp__plugin_claude-mem_mcp-search__search",
                         "webapp"))
    rows.append((999_999, now - DAY, "sess", "mcp__claude-mem__get_observations", "webapp"))  # deleted since
    log.executemany("INSERT INTO accesses VALUES (?,?,?,?,?)", rows)
    log.commit()
    log.close()
    wanted[999_999] = 1
    return wanted


def write_sync_history(state: Path) -> None:
    lines = [
        {"at": "2026-02-10T07:00:00.000Z", "atEpoch": 1_770_706_800_000, "kind": "export", "project": "webapp",
         "result": "ok", "count": 12, "detail": "pushed 12 observations"},
        {"at": "2026-03-20T07:00:00.000Z", "atEpoch": 1_773_990_000_000, "kind": "export", "project": "webapp",
         "result": "ok", "count": 10, "detail": f"pushed {HOSTILE}"},
        {"at": "2026-03-22T07:00:00.000Z", "atEpoch": 1_774_162_800_000, "kind": "import", "project": "webapp",
         "result": "ok", "count": 14, "detail": "imported 14"},
        {"at": "2026-03-23T07:00:00.000Z", "atEpoch": 1_774_249_200_000, "kind": "maintain", "project": "webapp",
         "result": "error", "count": 0, "detail": "integrity check failed; backup restored"},
    ]
    data = b"".join(orjson.dumps(line) + b"\n" for line in lines) + b"{damaged line\n"
    (state / "sync-history.jsonl").write_bytes(data)


def build_world(tmp: Path) -> World:
    tmp.mkdir(parents=True, exist_ok=True)
    db = make_db(tmp / "claude-mem" / "claude-mem.db", seed_rows())
    repo, origin = build_repo(tmp)
    config = tmp / "home" / ".claude-mem-sync" / "config.json"
    state = config.parent
    state.mkdir(parents=True)
    write_access_log(state, db)
    write_sync_history(state)
    return World(db=db, repo=repo, origin=origin, state=state, config=config)

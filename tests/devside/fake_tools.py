"""Stand-ins for the OS schedulers' commands, put on PATH by tests (import as ``devside.fake_tools``)."""

from __future__ import annotations

import sys

FAKE_CRONTAB = f"""#!{sys.executable}
# crontab as far as mem-sync uses it: -l prints the table, - replaces it from stdin
import os, sys
table = os.environ["FAKE_CRONTAB_FILE"]
if sys.argv[1:] == ["-l"]:
    if not os.path.exists(table):
        sys.stderr.write("no crontab for tester\\n")
        sys.exit(1)
    sys.stdout.write(open(table).read())
elif sys.argv[1:] == ["-"]:
    open(table, "w").write(sys.stdin.read())
    open(table + ".writes", "a").write("write\\n")
else:
    sys.exit(2)
"""
# launchctl / schtasks: record each call; schtasks also remembers which tasks exist
FAKE_RECORDER = f"""#!{sys.executable}
import os, sys, json
log = os.environ["FAKE_CALLS_FILE"]
open(log, "a").write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
if os.path.basename(sys.argv[0]) == "schtasks":
    names = os.environ["FAKE_CALLS_FILE"] + ".tasks"
    known = set(open(names).read().split()) if os.path.exists(names) else set()
    verb, name = sys.argv[1], sys.argv[sys.argv.index("/tn") + 1]
    if verb == "/create":
        known.add(name)
    elif verb == "/delete":
        known.discard(name)
    elif verb == "/query" and name not in known:
        sys.exit(1)
    open(names, "w").write("\\n".join(sorted(known)))
"""

"""The pure merge pipeline: dedup, scoring, eviction, planning. No I/O in here."""

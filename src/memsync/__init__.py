"""mem-sync: share claude-mem observations across a team through one git repository."""

__version__ = "0.1.0"

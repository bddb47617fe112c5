"""One exception hierarchy; every message is written for the person at the terminal.

The CLI catches ``MemSyncError``, prints ``str(error)`` on one line to stderr and exits
with ``error.exit_code``. Anything else escaping is a bug.
"""

from __future__ import annotations


class MemSyncError(Exception):
    """Base of every error a user can cause. The message says what is wrong and how to fix it."""

    exit_code = 1


class UsageError(MemSyncError):
    """A flag or argument that cannot work (exit status 2, like click's own usage errors)."""

    exit_code = 2


class ConfigError(MemSyncError):
    """The mem-sync configuration file is missing or invalid."""


class RepoError(MemSyncError):
    """The shared repository is missing, unreadable or in an unexpected shape."""


class StateError(RepoError):
    """``.merge-state.json`` cannot be read; the merge refuses rather than reprocessing blindly."""


class QuarantineReason(MemSyncError):
    """Why one contribution file is set aside. The file is left untouched and reported."""


class UnsafeName(QuarantineReason):
    """A project or developer directory name that could escape the repository."""


class SecretsFound(MemSyncError):
    """Credentials were found and the policy says to stop."""


class DatabaseError(MemSyncError):
    """claude-mem's SQLite database is missing, locked or of an unknown shape."""


class GitError(MemSyncError):
    """A git command failed; the message carries git's own words, never a token."""


class PushRejected(GitError):
    """The remote branch moved between fetch and push."""


class ProviderError(MemSyncError):
    """A forge API (GitHub, GitLab, Bitbucket) refused or failed a request."""


class ScheduleError(MemSyncError):
    """The OS scheduler (crontab, launchctl, schtasks) is missing or refused a change."""

"""URLs as they may be printed: every part that can carry a credential masked.

A remote URL carries credentials in its userinfo (``https://user:token@host``) and, for some
forges and proxies, in its query string (``?private_token=…``, ``?access_token=…``). A password
may hold a raw ``@`` (``user:p@ss@host``: the userinfo ends at the *last* ``@`` before the
path), so stopping at the first one, as a simple pattern does, prints the rest of it.
"""

from __future__ import annotations

import re

MASK = "***"

# a URL with a scheme, up to whitespace or the double quotes and brackets messages put around
# one; a single quote (git's own quoting) is taken in, since a password may hold one
_URL = re.compile(r"""(?i)\b([a-z][a-z0-9+.-]*://)([^\s"<>`]*)""")
_QUERY_VALUE = re.compile(r"=[^&;#]*")


def mask_url(url: str) -> str:
    """``url`` with its userinfo (user and password) and every query value replaced by ``***``;
    a query without ``name=value`` pairs is masked whole."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    return scheme + sep + _mask_rest(rest)


def scrub_urls(text: str) -> str:
    """``text`` with every URL in it masked like ``mask_url``."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: m.group(1) + _mask_rest(m.group(2)), text)


def strip_userinfo(url: str) -> str:
    """``url`` without user and password (for matching, not for printing: the query stays)."""
    match = _URL.fullmatch(url)
    if match is None:
        return url
    head, sep, tail = match.group(2).partition("/")
    if "@" in head:
        head = head[head.rindex("@") + 1:]
    return match.group(1) + head + sep + tail


def _mask_rest(rest: str) -> str:
    # the authority runs to the first "/"; a raw "@" inside a password leaves the last "@"
    # before it as the one that ends the userinfo
    head, sep, tail = rest.partition("/")
    if "@" in head:
        head = MASK + head[head.rindex("@"):]
    rest, hash_, fragment = (head + sep + tail).partition("#")
    path, question, query = rest.partition("?")
    if query:
        query = _QUERY_VALUE.sub("=" + MASK, query) if "=" in query else MASK
    if "=" in fragment:  # "#access_token=…", as OAuth's implicit flow returns it
        fragment = _QUERY_VALUE.sub("=" + MASK, fragment)
    return path + question + query + hash_ + fragment

"""Storage URLs: one string names a built-in storage and its options.

Accepted forms (see ``ACCEPTED``): ``sqlite:`` and ``file:`` take a path (three slashes
for an absolute one, as in ``file:///var/lib/bot``), ``redis://``/``rediss://`` and
``postgresql://``/``postgres://`` are the drivers' own URLs plus one option of ours in the
query (``prefix`` / ``table``), which is taken out before the driver sees the URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["ACCEPTED", "ENVIRONMENT", "StorageURL", "StorageURLError", "parse_storage_url"]

ENVIRONMENT = "BOTSESSIONS_STORAGE"
"""The environment variable read when ``--storage`` is not given."""

ACCEPTED = """\
accepted storage URLs:
  sqlite:///abs/path/bot.db  or  sqlite:relative/bot.db    [?table=NAME]
  file:///abs/dir            or  file:relative/dir
  redis://HOST:PORT/DB       (rediss:// for TLS)           [?prefix=KEY_PREFIX]
  postgresql://USER@HOST:PORT/DB  (or postgres://)         [?table=NAME]
  memory:                    (empty, this process only: for tests)"""


class StorageURLError(ValueError):
    """A storage URL that names no built-in storage; the message lists the accepted forms."""

    def __init__(self, url: str, reason: str) -> None:
        what = f"bad storage URL {url!r}: {reason}" if url else reason
        super().__init__(f"{what}\n{ACCEPTED}")
        self.url = url


@dataclass(frozen=True, slots=True)
class StorageURL:
    """A parsed storage URL: which storage, its main argument and its options."""

    kind: str
    target: str
    options: dict[str, str]

    def open(self) -> Any:
        """Build the storage (no I/O yet: the first operation connects)."""
        from botsessions.storage import (
            FileStorage,
            MemorySessionStorage,
            PostgresStorage,
            RedisStorage,
            SQLiteStorage,
        )

        options = self.options
        if self.kind == "sqlite":
            return SQLiteStorage(self.target, table=options.get("table", "sessions"))
        if self.kind == "file":
            return FileStorage(self.target)
        if self.kind == "redis":
            return RedisStorage(self.target, prefix=options.get("prefix", ""))
        if self.kind == "postgres":
            return PostgresStorage(self.target, table=options.get("table", "sessions"))
        return MemorySessionStorage()


_OPTIONS = {"sqlite": {"table"}, "file": set(), "redis": {"prefix"}, "postgres": {"table"}}


def parse_storage_url(url: str | None) -> StorageURL:
    """Parse ``url``, or ``$BOTSESSIONS_STORAGE`` when it is ``None``.

    Raises:
        StorageURLError: no URL at all, or one that names no built-in storage.
    """
    if url is None:
        url = os.environ.get(ENVIRONMENT) or None
        if url is None:
            raise StorageURLError("", f"no storage given: pass --storage URL or set {ENVIRONMENT}")
    scheme, colon, rest = url.partition(":")
    scheme = scheme.lower()
    if not colon:
        raise StorageURLError(url, "it has no scheme (such as sqlite: or redis://)")
    if scheme == "memory":
        if rest:
            raise StorageURLError(url, "memory: takes no path or options")
        return StorageURL("memory", "", {})
    if scheme in ("sqlite", "file"):
        path, _, query = rest.partition("?")
        if path.startswith("//"):
            path = path[2:]
            if path and not path.startswith("/"):
                raise StorageURLError(
                    url,
                    f"{scheme}:// URLs have no host: use {scheme}:///absolute/path "
                    f"or {scheme}:relative/path",
                )
        if not path:
            raise StorageURLError(url, f"{scheme}: needs a path")
        return StorageURL(scheme, path, _options(url, scheme, query))
    if scheme in ("redis", "rediss", "postgresql", "postgres"):
        parts = urlsplit(url)
        if not rest.startswith("//"):
            raise StorageURLError(url, f"write it as {scheme}://HOST...")
        kind = "redis" if scheme.startswith("redis") else "postgres"
        options = _options(url, kind, parts.query, keep_others=True)
        ours = {name: options.pop(name) for name in list(options) if name in _OPTIONS[kind]}
        target = urlunsplit(parts._replace(query=urlencode(options)))
        return StorageURL(kind, target, ours)
    raise StorageURLError(url, f"unknown scheme {scheme + ':'!r}")


def _options(url: str, kind: str, query: str, *, keep_others: bool = False) -> dict[str, str]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise StorageURLError(url, f"its query is malformed ({exc})") from None
    options = dict(pairs)
    unknown = sorted(set(options) - _OPTIONS[kind])
    if unknown and not keep_others:
        allowed = ", ".join(sorted(_OPTIONS[kind])) or "none"
        raise StorageURLError(url, f"unknown option {unknown[0]!r} (allowed: {allowed})")
    return options

"""The SQL of MySQLStorage for one table, and the names of its session locks.

Only the table name (checked against a strict identifier pattern, then backquoted) is
placed into SQL text; keys, values and times are always parameters.

The table: ``k VARBINARY(3072) PRIMARY KEY`` (the key's UTF-8 bytes: compared exactly,
no collation folds case or pads spaces), ``v LONGTEXT`` in ``utf8mb4_bin`` holding the
exact JSON text (MariaDB's ``JSON`` type is this very column type; MySQL's would rewrite
the text and round big integers) and ``expires_at BIGINT`` (epoch milliseconds, ``NULL``
for never).

The lock statements are pairs sent in one round trip (multi-statement): ``GET_LOCK`` and
then the read, so the read starts after the lock is held and sees the previous holder's
committed write; the write and then ``RELEASE_LOCK``, so the next holder gets the lock
only once the write is committed (autocommit).
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import blake2b
from typing import Self

from botsessions.storage._table import Statements

__all__ = ["TableSQL", "lock_name"]

_LIVE = "(expires_at IS NULL OR expires_at > %s)"


def lock_name(database: str, table: str, key: str) -> str:
    """The ``GET_LOCK`` name of ``key`` (lock names are server-wide and at most 64 chars)."""
    digest = blake2b(f"{database}\0{table}\0{key}".encode(), digest_size=20).hexdigest()
    return f"botsessions:{digest}"


@dataclass(frozen=True, slots=True)
class TableSQL(Statements):
    """Every statement MySQLStorage runs against one table."""

    lock: str

    @classmethod
    def for_table(cls, table: str) -> Self:
        """Statements for ``table`` (a checked identifier), backquoted into the SQL."""
        t = f"`{table}`"
        upsert = (
            f"INSERT INTO {t} (k, v, expires_at) VALUES (%s, %s, %s) "
            "ON DUPLICATE KEY UPDATE v = VALUES(v), expires_at = VALUES(expires_at)"
        )
        remove = f"DELETE FROM {t} WHERE k = %s"
        read = f"SELECT v FROM {t} WHERE k = %s AND {_LIVE}"
        return cls(
            create_table=(
                f"CREATE TABLE IF NOT EXISTS {t} ("
                "k VARBINARY(3072) NOT NULL PRIMARY KEY, "
                "v LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, "
                "expires_at BIGINT NULL, "
                f"INDEX `{table}__expires_at` (expires_at)"
                ") ENGINE=InnoDB"
            ),
            read=read,
            write=upsert,
            delete=remove,
            has=f"SELECT 1 FROM {t} WHERE k = %s AND {_LIVE}",
            first_page=f"SELECT k, v FROM {t} WHERE {_LIVE} ORDER BY k LIMIT %s",
            page=f"SELECT k, v FROM {t} WHERE k > %s AND {_LIVE} ORDER BY k LIMIT %s",
            purge=f"DELETE FROM {t} WHERE expires_at <= %s LIMIT %s",
            lock="SELECT GET_LOCK(%s, %s)",
            acquire=f"SELECT GET_LOCK(%s, %s); {read}",
            save=f"{upsert}; DO RELEASE_LOCK(%s)",
            remove=f"{remove}; DO RELEASE_LOCK(%s)",
            unlock="DO RELEASE_LOCK(%s)",
        )

"""The SQL of PostgresStorage for one table: schema, data statements, lock functions.

Only the table name (checked against a strict identifier pattern, then double-quoted) and
integers computed here are placed into SQL text; keys and values are always parameters.

Why functions for the lock: a session-level advisory lock taken by a statement does not
make that statement's snapshot newer, so ``SELECT pg_advisory_lock(..), (SELECT value ..)``
could return the value as it was *before* the previous holder committed. A VOLATILE
PL/pgSQL function takes a fresh snapshot for each statement, so locking then reading inside
one function is correct and still one round trip. Saving is the mirror problem: releasing a
session-level lock does not wait for the transaction to commit, so the save function first
takes the same lock at transaction level, then drops the session-level one and writes; the
next holder gets the lock only once the write is committed. With ``keep`` the save takes
the session-level lock again right after checking it (a session re-acquires its own
advisory lock at once, whoever waits): the lock stays held and the write commits on its own.

A kept save may be told not to wait for the disk (``durable`` false: ``synchronous_commit``
off for that one transaction): it is committed and visible to every other connection when
the call returns, and ``flush`` (a transactional WAL message, the smallest write whose
synchronous commit flushes the WAL up to it, and so every commit before it) makes it
durable later, while the next update already runs under the lock. Roles that may not
execute ``pg_logical_emit_message`` (``may_flush``) always commit synchronously.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import blake2b
from typing import Self

from botsessions.storage._table import Statements

__all__ = ["TableSQL", "advisory_key"]

# Any transaction that writes WAL and commits synchronously flushes the WAL up to its commit.
_FLUSH = "SELECT pg_logical_emit_message(true, 'botsessions', 'flush')"
_LIVE = "(expires_at IS NULL OR expires_at > to_timestamp({now}::float8))"


def advisory_key(table: str, key: str) -> int:
    """The signed 64-bit advisory lock id of ``key`` in ``table`` (same in every process)."""
    digest = blake2b(f"botsessions\0{table}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True, slots=True)
class TableSQL(Statements):
    """Every statement PostgresStorage runs against one table."""

    create_functions: str
    read_expiry: str
    first_page_expiry: str
    page_expiry: str
    flush: str
    unlock_flush: str
    may_flush: str
    ddl_lock: int

    @classmethod
    def for_table(cls, table: str) -> Self:
        """Statements for ``table`` (a checked identifier), double-quoted into the SQL."""
        t = f'"{table}"'
        fn_acquire, fn_save, fn_remove = (f'"{table}__{n}"' for n in ("acquire", "save", "remove"))
        upsert = (
            f"INSERT INTO {t} (key, value, expires_at) "
            "VALUES ({k}, {v}::jsonb, to_timestamp({e}::float8)) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
            "expires_at = EXCLUDED.expires_at"
        )
        create_table = f"""
CREATE TABLE IF NOT EXISTS {t} (
    key text PRIMARY KEY,
    value jsonb NOT NULL,
    expires_at timestamptz NULL
);
CREATE INDEX IF NOT EXISTS "{table}__expires_at" ON {t} (expires_at)
    WHERE expires_at IS NOT NULL;
"""
        # The start of save and remove: unless the lock is ours, nothing happens; with keep
        # it is taken again before the commit; a non-durable commit skips the disk wait.
        fence = """
    IF NOT durable THEN PERFORM set_config('synchronous_commit', 'off', true); END IF;
    PERFORM pg_advisory_xact_lock(lock_id);
    IF NOT pg_advisory_unlock(lock_id) THEN RETURN false; END IF;
    IF keep THEN PERFORM pg_advisory_lock(lock_id); END IF;"""
        create_functions = f"""
CREATE OR REPLACE FUNCTION {fn_acquire}(lock_id bigint, session_key text, wait text,
                                        do_read boolean, now_epoch float8)
RETURNS text LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
    PERFORM set_config('lock_timeout', wait, true);
    PERFORM pg_advisory_lock(lock_id);
    IF NOT do_read THEN RETURN NULL; END IF;
    RETURN (SELECT value::text FROM {t}
            WHERE key = session_key AND {_LIVE.format(now="now_epoch")});
END $fn$;
CREATE OR REPLACE FUNCTION {fn_save}(lock_id bigint, session_key text, data text,
                                     expires_epoch float8, keep boolean, durable boolean)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN{fence}
    {upsert.format(k="session_key", v="data", e="expires_epoch")};
    RETURN true;
END $fn$;
CREATE OR REPLACE FUNCTION {fn_remove}(lock_id bigint, session_key text, keep boolean,
                                       durable boolean)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN{fence}
    DELETE FROM {t} WHERE key = session_key;
    RETURN true;
END $fn$;
"""
        live = _LIVE.format(now="$2")
        with_expiry = f"value::text, extract(epoch FROM expires_at)::float8 FROM {t}"
        return cls(
            create_table=create_table,
            create_functions=create_functions,
            read=f"SELECT value::text FROM {t} WHERE key = $1 AND {live}",
            write=upsert.format(k="$1", v="$2::text", e="$3"),
            delete=f"DELETE FROM {t} WHERE key = $1",
            has=f"SELECT EXISTS (SELECT 1 FROM {t} WHERE key = $1 AND {live})",
            first_page=(
                f"SELECT key, value::text FROM {t} WHERE {_LIVE.format(now='$2')} "
                "ORDER BY key LIMIT $1"
            ),
            page=(
                f"SELECT key, value::text FROM {t} WHERE key > $1 "
                f"AND {_LIVE.format(now='$3')} ORDER BY key LIMIT $2"
            ),
            read_expiry=f"SELECT {with_expiry} WHERE key = $1 AND {live}",
            first_page_expiry=(
                f"SELECT key, {with_expiry} WHERE {_LIVE.format(now='$2')} ORDER BY key LIMIT $1"
            ),
            page_expiry=(
                f"SELECT key, {with_expiry} WHERE key > $1 "
                f"AND {_LIVE.format(now='$3')} ORDER BY key LIMIT $2"
            ),
            purge=(
                f"DELETE FROM {t} WHERE key IN (SELECT key FROM {t} "
                "WHERE expires_at <= to_timestamp($2::float8) LIMIT $1)"
            ),
            acquire=f"SELECT {fn_acquire}($1, $2, $3, $4, $5)",
            save=f"SELECT {fn_save}($1, $2, $3, $4, $5, $6)",
            remove=f"SELECT {fn_remove}($1, $2, $3, $4)",
            unlock="SELECT pg_advisory_unlock($1)",
            flush=_FLUSH,
            unlock_flush=f"SELECT pg_advisory_unlock($1), ({_FLUSH})",
            may_flush=(
                "SELECT has_function_privilege("
                "'pg_catalog.pg_logical_emit_message(boolean, text, text)', 'EXECUTE')"
            ),
            ddl_lock=advisory_key(table, "\0schema"),
        )

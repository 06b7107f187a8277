"""The helpers the SQL server storages share: argument checks and keyset pages."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from botsessions.storage._table import check_sizes, check_table, keyset_pages


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ({"min_size": 0, "max_size": 1, "batch_size": 1}, "min_size must be a positive int"),
        ({"min_size": 1, "max_size": True, "batch_size": 1}, "max_size must be a positive int"),
        ({"min_size": 1, "max_size": 1, "batch_size": 1.5}, "batch_size must be a positive int"),
        ({"min_size": 3, "max_size": 2, "batch_size": 1}, r"min_size \(3\) must not exceed"),
    ],
)
def test_bad_sizes_are_refused(sizes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_sizes(**sizes)  # type: ignore[arg-type]


def test_good_sizes_pass() -> None:
    check_sizes(min_size=1, max_size=1, batch_size=500)


@pytest.mark.parametrize("table", ["", "1abc", "a-b", "a" * 49, 'x"; DROP', 7])
def test_a_table_name_must_be_a_plain_identifier(table: object) -> None:
    with pytest.raises(ValueError, match="table must be a plain identifier"):
        check_table(table)  # type: ignore[arg-type]


def test_plain_identifiers_pass() -> None:
    check_table("sessions_2")
    check_table("_" + "a" * 47)


def _pages(rows: list[tuple[int]], size: int) -> tuple[list[list[tuple[int]]], list[object]]:
    asked: list[object] = []

    async def fetch(last: tuple[int] | None) -> Sequence[tuple[int]]:
        asked.append(last)
        start = 0 if last is None else rows.index(last) + 1
        return rows[start : start + size]

    async def main() -> list[list[tuple[int]]]:
        return [list(page) async for page in keyset_pages(fetch, size)]

    return asyncio.run(main()), asked


def test_keyset_pages_continue_after_the_last_row_until_a_short_page() -> None:
    rows = [(n,) for n in range(5)]
    pages, asked = _pages(rows, 2)
    assert pages == [rows[0:2], rows[2:4], rows[4:5]]
    assert asked == [None, (1,), (3,)]


def test_keyset_pages_of_an_exact_multiple_end_on_an_empty_page() -> None:
    rows = [(n,) for n in range(4)]
    pages, asked = _pages(rows, 2)
    assert pages == [rows[0:2], rows[2:4]]
    assert asked == [None, (1,), (3,)]


def test_no_rows_give_no_pages() -> None:
    assert _pages([], 3) == ([], [None])

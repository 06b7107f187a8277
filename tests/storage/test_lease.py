"""BaseLease: the end-of-lease rules every locking backend shares, with a scripted backend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from botsessions._errors import LeaseLostError, StorageError
from botsessions.storage._lease import BaseLease, lease_seconds


class ScriptedLease(BaseLease):
    """A lease whose saves answer from ``answers`` (True, False = lost, or an exception)."""

    __slots__ = ("answers", "calls")

    def __init__(self, *answers: bool | BaseException) -> None:
        super().__init__("chat", {"count": 0})
        self.answers = list(answers)
        self.calls: list[str] = []

    def _encode(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError("not a dict")
        return value

    async def _answer(self, call: str) -> bool:
        self.calls.append(call)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def _save(self, data: Any, *, keep: bool) -> bool:
        return await self._answer(f"save keep={keep}")

    async def _remove(self, *, keep: bool) -> bool:
        return await self._answer(f"remove keep={keep}")

    async def _unlock(self) -> None:
        self.calls.append("unlock")

    async def _after_end(self) -> None:
        self.calls.append("after end")

    def _stop(self) -> None:
        self.calls.append("stop")

    def _kept(self) -> None:
        self.calls.append("kept")


class TestBaseLease:
    async def test_a_write_ends_the_lease_once_and_release_is_then_silent(self) -> None:
        lease = ScriptedLease(True)
        await lease.write({"count": 1})
        await lease.release()
        assert lease.value == {"count": 1}
        assert lease.calls == ["stop", "save keep=False", "after end"]
        with pytest.raises(RuntimeError, match="already ended"):
            await lease.delete()

    async def test_keep_writes_and_deletes_and_stays_held(self) -> None:
        lease = ScriptedLease(True, True)
        await lease.write({"count": 1}, keep=True)
        assert lease.value == {"count": 1}
        await lease.delete(keep=True)
        assert lease.value is None
        await lease.release()
        await lease.release()
        assert lease.calls == [
            "save keep=True",
            "kept",
            "remove keep=True",
            "kept",
            "stop",
            "unlock",
        ]

    @pytest.mark.parametrize("keep", [False, True])
    async def test_a_lost_lease_refuses_ends_and_unlocks_quietly(self, keep: bool) -> None:
        lease = ScriptedLease(False)
        with pytest.raises(LeaseLostError, match="'chat'") as caught:
            await lease.write({"count": 1}, keep=keep)
        assert caught.value.key == "chat"
        assert lease.value == {"count": 0}
        await lease.release()
        # Renewal stops when the lease ends: before the I/O without keep, after it with keep.
        expected = ["save keep=True", "stop"] if keep else ["stop", "save keep=False"]
        assert lease.calls == [*expected, "unlock"]

    @pytest.mark.parametrize("error", [StorageError("down", key="chat"), asyncio.CancelledError()])
    async def test_a_failed_end_ends_the_lease_and_reraises(self, error: BaseException) -> None:
        lease = ScriptedLease(error)
        with pytest.raises(type(error)):
            await lease.delete(keep=True)
        assert lease.calls == ["remove keep=True", "stop", "unlock"]
        with pytest.raises(RuntimeError, match="already ended"):
            await lease.write({"count": 2})

    async def test_a_value_that_cannot_be_encoded_leaves_the_lease_held(self) -> None:
        lease = ScriptedLease(True)
        with pytest.raises(TypeError):
            await lease.write([1])
        assert lease.calls == []
        await lease.write({"count": 3})
        assert lease.value == {"count": 3}


class TestLeaseSeconds:
    @pytest.mark.parametrize("value", [None, float("inf"), 10**400])
    def test_a_lease_that_never_ends_is_refused(self, value: Any) -> None:
        with pytest.raises(ValueError, match=r"finite.*crashed"):
            lease_seconds(value, maximum=100)

    def test_a_lease_over_the_maximum_is_refused_and_others_pass(self) -> None:
        with pytest.raises(ValueError, match="lock_lease"):
            lease_seconds(101, maximum=100)
        assert lease_seconds(2, maximum=100) == 2.0

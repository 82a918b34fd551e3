"""Many concurrent requests of one kind, served by one statement.

A thousand sockets connecting at once each need their token's user and their newest event
id, and a busy node's sockets send DMs faster than PostgreSQL commits them one by one: a
round trip (and, for a write, a commit with its disk flush) each would queue them all.
`Batches` collects the items asked for while statements are in flight and hands them to the
next one together, so a burst costs a handful of statements (group commit, for writes), and
a quiet moment costs one statement per item, without waiting for company.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

MAX_BATCH = 500


class Batches:
    """`await batches.submit(item)`: the result `run_many` gives for it.

    `run_many(items) -> [result per item, in order]` runs at most `concurrency` times at once
    per event loop; an exception it raises reaches every caller of its batch.
    """

    def __init__(self, run_many: Callable[[list], Awaitable[list[Any]]], *, concurrency: int = 1):
        self.run_many = run_many
        self.concurrency = concurrency
        self._state: dict[asyncio.AbstractEventLoop, _LoopState] = {}

    def _loop_state(self) -> "_LoopState":
        loop = asyncio.get_running_loop()
        state = self._state.get(loop)
        if state is None:
            for old in [old for old in self._state if old.is_closed()]:
                del self._state[old]
            state = self._state[loop] = _LoopState()
        return state

    async def submit(self, item):
        state = self._loop_state()
        future = asyncio.get_running_loop().create_future()
        state.waiting.append((item, future))
        if state.running < self.concurrency:
            state.running += 1
            asyncio.get_running_loop().create_task(self._drain(state))
        return await future

    async def _drain(self, state: "_LoopState") -> None:
        try:
            while state.waiting:
                batch, state.waiting = state.waiting[:MAX_BATCH], state.waiting[MAX_BATCH:]
                try:
                    results = await self.run_many([item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every caller of the batch hears of it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            state.running -= 1


class _LoopState:
    def __init__(self):
        self.waiting: list[tuple[Any, asyncio.Future]] = []
        self.running = 0


def lookups(fetch_many: Callable[[list], Awaitable[dict[Any, Any]]]) -> Batches:
    """Batches of lookups by key: `fetch_many(keys) -> {key: value}`; a missing key is None."""

    async def run_many(keys: list) -> list:
        found = await fetch_many(list(dict.fromkeys(keys)))
        return [found.get(key) for key in keys]

    return Batches(run_many)

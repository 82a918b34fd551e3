"""Many concurrent lookups of one kind, answered by one query.

A thousand sockets connecting at once each need their token's user and their newest event
id: a query each would queue a thousand round trips. A `Batcher` collects the keys asked for
while a query is in flight and asks for all of them with the next one, so a burst costs a
handful of queries and a quiet moment costs one query per ask, without waiting for company.
"""

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

MAX_BATCH = 1000


class Batcher:
    """`await batcher.get(key)`: the value `fetch_many` gives for `key` (None when absent).

    `fetch_many(keys) -> {key: value}` runs one at a time per event loop; an exception it
    raises reaches every caller of its batch.
    """

    def __init__(self, fetch_many: Callable[[list], Awaitable[dict[Any, Any]]]):
        self.fetch_many = fetch_many
        self._state: dict[asyncio.AbstractEventLoop, _LoopState] = {}

    async def get(self, key: Hashable):
        loop = asyncio.get_running_loop()
        state = self._state.get(loop)
        if state is None:
            for old in [old for old in self._state if old.is_closed()]:
                del self._state[old]
            state = self._state[loop] = _LoopState()
        future = state.waiting.get(key)
        if future is None:
            future = state.waiting[key] = loop.create_future()
        if not state.running:
            state.running = True
            loop.create_task(self._drain(state))
        return await asyncio.shield(future)

    async def _drain(self, state: "_LoopState") -> None:
        try:
            while state.waiting:
                keys = list(state.waiting)[:MAX_BATCH]
                futures = {key: state.waiting.pop(key) for key in keys}
                try:
                    found = await self.fetch_many(keys)
                except Exception as exc:  # noqa: BLE001 - every caller of the batch hears of it
                    for future in futures.values():
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for key, future in futures.items():
                    if not future.done():
                        future.set_result(found.get(key))
        finally:
            state.running = False


class _LoopState:
    def __init__(self):
        self.waiting: dict[Hashable, asyncio.Future] = {}
        self.running = False

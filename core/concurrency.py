"""ASGI middleware: at most HTTP_CONCURRENCY requests of a process run in Django at once.

Under ASGI each request runs its view in a thread of its own. Five hundred requests at once
were five hundred threads taking turns at the GIL with the event loop, which carries every
socket of the process: handshakes waited for seconds, past daphne's connect timeout. Past the
limit, a request waits on the event loop (a queue entry, no thread) until one finishes; the
database pool behind it (DB_POOL_SIZE) could not serve more at once anyway.
"""

import asyncio

from django.conf import settings


class ConcurrencyLimit:
    def __init__(self, app):
        self.app = app
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        found = self._semaphores.get(loop)
        if found is None:
            for old in [old for old in self._semaphores if old.is_closed()]:
                del self._semaphores[old]
            found = self._semaphores[loop] = asyncio.Semaphore(settings.HTTP_CONCURRENCY)
        return found

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        async with self._semaphore():
            return await self.app(scope, receive, send)

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from realtime.db import shutdown


@pytest.fixture
async def ws_cleanup():
    """Closes the gateway's database threads and connections after a socket test."""
    yield
    await shutdown()
    await sync_to_async(connections.close_all)()

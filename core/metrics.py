"""Prometheus metrics of this process (each daphne node exposes its own at /metrics).

The application's figures are counted where they happen (below). The database's are read
at scrape time from PostgreSQL's statistics views, cached a few seconds (core/dbstats.py).
Connection pools report their occupancy through `POOLS`: each pool registers a function
that returns `(in_use, idle, size)` when asked, so a scrape costs them nothing else.
"""

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

EVENTS_APPENDED = Counter("instaclone_events_appended_total", "Durable events appended to the log", ["kind"])
WS_CONNECTIONS = Gauge("instaclone_ws_connections", "Open websocket connections on this node")
WS_FRAMES_IN = Counter("instaclone_ws_frames_in_total", "Client frames received", ["type"])
WS_EVENTS_OUT = Counter("instaclone_ws_events_out_total", "Durable events sent to sockets", ["path"])
WS_GAPS_FILLED = Counter("instaclone_ws_gaps_filled_total", "Gaps in live pushes filled from the log")
WS_CLOSES = Counter("instaclone_ws_closes_total", "Sockets closed by the server", ["code"])
HTTP_LATENCY = Histogram(
    "instaclone_http_request_seconds", "HTTP request latency by route pattern", ["method", "route", "status"]
)
DELIVERY_LATENCY = Histogram(
    "instaclone_delivery_latency_seconds",
    "From an event's commit to its send on a socket (live pushes)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# Pool name -> a function giving (connections in use, idle connections, the pool's size).
POOLS: dict[str, Callable[[], tuple[int, int, int]]] = {}


def pool_register(*, name: str, stats: Callable[[], tuple[int, int, int]]) -> None:
    """Reports a connection pool's occupancy as instaclone_db_pool_connections/size{pool}."""
    POOLS[name] = stats

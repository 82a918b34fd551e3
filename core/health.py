import asyncio
import hmac

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from drf_spectacular.utils import extend_schema
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes

from core import dbstats as _registered_collector  # noqa: F401 - registers the database's figures
from core.errors import json_error


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception:  # noqa: BLE001 - any failure means "down"
        return False


async def _layer_probe() -> None:
    layer = get_channel_layer()
    # A layer that queues its publishes (the gateway's) answers a ping instead.
    ping = getattr(layer, "ping", None)
    probe = ping() if ping is not None else layer.group_send("health.probe", {"type": "health.probe"})
    await asyncio.wait_for(probe, timeout=2)


def _channel_layer_ok() -> bool:
    try:
        async_to_sync(_layer_probe)()
        return True
    except Exception:  # noqa: BLE001
        return False


@extend_schema(exclude=True)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def healthz(request):
    """200 when the database and the channel layer answer; 503 naming what is down."""
    checks = {"database": _database_ok(), "channel_layer": _channel_layer_ok()}
    down = [name for name, ok in checks.items() if not ok]
    body = {
        "status": "ok" if not down else "unavailable",
        "checks": {k: "ok" if v else "down" for k, v in checks.items()},
    }
    if down:
        body["detail"] = "down: " + ", ".join(down)
        body["code"] = "unavailable"
    return JsonResponse(body, status=503 if down else 200)


def metrics(request):
    """Prometheus metrics. With METRICS_TOKEN set, only `Authorization: Bearer <token>`."""
    expected = settings.METRICS_TOKEN
    if expected:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return json_error(401, "Metrics need the bearer token.", "not_authenticated")
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)

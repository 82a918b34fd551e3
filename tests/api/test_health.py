import pytest
from django.test import override_settings

from tests.tcp_proxy import free_port


@pytest.mark.django_db
def test_healthz_checks_database_and_channel_layer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "channel_layer": "ok"}}


@pytest.mark.django_db
def test_healthz_names_the_channel_layer_when_redis_is_unreachable(client):
    # given: a Redis address where nothing listens
    dead = f"redis://127.0.0.1:{free_port()}/0"
    layers = {
        "default": {
            "BACKEND": "realtime.layer.GatewayChannelLayer",
            "CONFIG": {"hosts": [{"address": dead, "socket_connect_timeout": 1}]},
        }
    }
    from channels.layers import channel_layers

    with override_settings(CHANNEL_LAYERS=layers):
        channel_layers.backends.clear()
        try:
            response = client.get("/healthz")
        finally:
            channel_layers.backends.clear()
    # then
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "ok", "channel_layer": "down"}
    assert body["code"] == "unavailable"
    assert "channel_layer" in body["detail"]


@pytest.mark.django_db
def test_metrics_are_prometheus_text(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"instaclone_ws_connections" in response.content


def test_openapi_schema_and_docs_are_served(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200


@pytest.mark.django_db
def test_metrics_token_guards_metrics_when_set(client, settings):
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


def sample(name: str, **labels) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
def test_request_latency_is_counted_by_route_pattern_and_status(auth_client):
    # given
    route = {"method": "GET", "route": "api/users/<str:username>", "status": "404"}
    before = sample("instaclone_http_request_seconds_count", **route)
    # when: two lookups of different people share one label set (the pattern, not the path)
    auth_client.get("/api/users/nobody_here")
    auth_client.get("/api/users/nobody_else")
    # then
    assert sample("instaclone_http_request_seconds_count", **route) - before == 2


@pytest.mark.django_db
def test_appended_events_are_counted_by_kind(user, other_user):
    from chat.services import conversation_open, message_send

    # given
    before = sample("instaclone_events_appended_total", kind="message.new")
    conversation, _ = conversation_open(creator=user, usernames=[other_user.username])
    # when: one message for two recipients
    message_send(sender=user, conversation_id=conversation.pk, body="hi", client_id="c1")
    # then
    assert sample("instaclone_events_appended_total", kind="message.new") - before == 2

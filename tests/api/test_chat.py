import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Block
from accounts.serializers import user_brief
from chat.models import Message
from chat.services import conversation_open, message_send
from core.throttling import ScopedThrottle
from realtime import events
from tests.factories import UserFactory, client_id

CONVERSATION_KEYS = {"id", "participants", "last_message", "unread_count"}
MESSAGE_KEYS = {"id", "conversation", "sender", "body", "client_id", "created_at", "deleted"}


def direct(a, b):
    return conversation_open(creator=a, usernames=[b.username])[0]


def assert_error(response, status: int, code: str | None = None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) >= {"detail", "code"}
    if code is not None:
        assert body["code"] == code
    return body


# POST /api/conversations


@pytest.mark.django_db
def test_open_direct_conversation_is_201_then_200_with_the_same_one(client_for):
    # given
    alice, bob = UserFactory(), UserFactory()
    client = client_for(alice)
    # when
    first = client.post("/api/conversations", {"usernames": [bob.username]}, format="json")
    again = client.post("/api/conversations", {"usernames": [bob.username]}, format="json")
    from_bob = client_for(bob).post("/api/conversations", {"usernames": [alice.username]}, format="json")
    # then
    assert first.status_code == 201
    assert again.status_code == 200
    assert from_bob.status_code == 200
    body = first.json()
    assert set(body) == CONVERSATION_KEYS
    assert body["participants"] == [user_brief(alice), user_brief(bob)]
    assert body["last_message"] is None
    assert body["unread_count"] == 0
    assert again.json()["id"] == body["id"] == from_bob.json()["id"]


@pytest.mark.django_db
def test_open_group_conversation_is_always_201(client_for):
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    client = client_for(alice)
    first = client.post("/api/conversations", {"usernames": [bob.username, carol.username]}, format="json")
    second = client.post("/api/conversations", {"usernames": [bob.username, carol.username]}, format="json")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert len(first.json()["participants"]) == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"usernames": []},
        {"usernames": "bob"},
        {"usernames": ["no_such_user"]},
        {"usernames": [None]},
        {"usernames": ["x" * 31]},
        {"usernames": [{"a": 1}]},
        {"usernames": ["u"] * 52},
    ],
)
def test_open_with_bad_input_is_400_naming_usernames(client_for, payload):
    client = client_for(UserFactory())
    response = client.post("/api/conversations", payload, format="json")
    body = assert_error(response, 400, "invalid")
    assert all(name.split(".")[0] == "usernames" for name in body["fields"])


@pytest.mark.django_db
def test_open_with_yourself_only_is_400(client_for):
    alice = UserFactory()
    response = client_for(alice).post("/api/conversations", {"usernames": [alice.username]}, format="json")
    assert_error(response, 400, "invalid")


@pytest.mark.django_db
def test_open_with_someone_who_blocked_you_is_403(client_for):
    alice, bob = UserFactory(), UserFactory()
    Block.objects.create(blocker=bob, blocked=alice)
    response = client_for(alice).post("/api/conversations", {"usernames": [bob.username]}, format="json")
    assert_error(response, 403, "permission_denied")


@pytest.mark.django_db
def test_conversations_need_authentication(api_client):
    assert_error(api_client.get("/api/conversations"), 401)
    assert_error(api_client.post("/api/conversations", {"usernames": ["x"]}, format="json"), 401)
    assert_error(api_client.get("/api/notifications"), 401)


@pytest.mark.django_db
def test_a_non_json_body_is_a_4xx_json_error(client_for):
    client = client_for(UserFactory())
    response = client.post("/api/conversations", data="{not json", content_type="application/json")
    assert_error(response, 400)
    response = client.post("/api/conversations", data="x", content_type="text/plain")
    assert_error(response, 415)


# GET /api/conversations


@pytest.mark.django_db
def test_conversation_list_shows_mine_newest_first_with_last_message_and_unread(client_for):
    # given
    alice, bob, carol, dave = UserFactory(), UserFactory(), UserFactory(), UserFactory()
    with_bob, with_carol = direct(alice, bob), direct(alice, carol)
    direct(bob, dave)  # not alice's
    message_send(sender=carol, conversation_id=with_carol.pk, body="older", client_id="c1")
    latest, _ = message_send(sender=bob, conversation_id=with_bob.pk, body="newest", client_id="b1")
    # when
    response = client_for(alice).get("/api/conversations")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    assert [c["id"] for c in body["results"]] == [with_bob.pk, with_carol.pk]
    first = body["results"][0]
    assert first["unread_count"] == 1
    assert set(first["last_message"]) == MESSAGE_KEYS
    assert first["last_message"]["id"] == latest.pk
    assert first["last_message"]["body"] == "newest"
    assert first["last_message"]["sender"] == user_brief(bob)


@pytest.mark.django_db
def test_conversation_list_pages_with_a_cursor(client_for):
    alice = UserFactory()
    others = UserFactory.create_batch(5, password=None)
    for other in others:
        direct(alice, other)
    client = client_for(alice)
    first = client.get("/api/conversations?limit=3").json()
    second = client.get(first["next"]).json()
    assert len(first["results"]) == 3 and len(second["results"]) == 2
    assert second["next"] is None
    ids = [c["id"] for c in first["results"] + second["results"]]
    assert len(set(ids)) == 5


def _conversations_with_messages(user, n: int) -> None:
    for i, other in enumerate(UserFactory.create_batch(n, password=None)):
        conversation = direct(user, other)
        message_send(sender=other, conversation_id=conversation.pk, body=f"hi {i}", client_id=f"c{i}")
        message_send(sender=user, conversation_id=conversation.pk, body=f"yo {i}", client_id=f"u{i}")
        message_send(sender=other, conversation_id=conversation.pk, body=f"ok {i}", client_id=f"d{i}")


def _count_queries(client, url: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.json()


@pytest.mark.django_db
def test_conversation_list_costs_the_same_queries_for_3_or_30(client_for):
    # given
    few, many = UserFactory(), UserFactory()
    _conversations_with_messages(few, 3)
    _conversations_with_messages(many, 30)
    # when
    few_queries, few_body = _count_queries(client_for(few), "/api/conversations?limit=100")
    many_queries, many_body = _count_queries(client_for(many), "/api/conversations?limit=100")
    # then
    assert len(few_body["results"]) == 3 and len(many_body["results"]) == 30
    assert all(c["unread_count"] == 1 for c in many_body["results"])
    assert few_queries == many_queries
    assert many_queries <= 4


# GET/POST /api/conversations/{id}/messages


@pytest.mark.django_db
def test_send_is_201_then_200_for_a_retry_with_the_same_client_id(client_for):
    # given
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    client = client_for(alice)
    payload = {"body": "hello bob", "client_id": client_id()}
    # when
    first = client.post(f"/api/conversations/{conversation.pk}/messages", payload, format="json")
    retry = client.post(f"/api/conversations/{conversation.pk}/messages", payload, format="json")
    # then
    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json() == first.json()
    body = first.json()
    assert set(body) == MESSAGE_KEYS
    assert body["conversation"] == conversation.pk
    assert body["sender"] == user_brief(alice)
    assert body["body"] == "hello bob"
    assert Message.objects.count() == 1
    assert [f["data"]["id"] for f in events.replay(user_id=bob.pk, after=0)] == [body["id"]]


@pytest.mark.django_db
def test_message_list_is_newest_first_and_pages(client_for):
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    ids = [
        message_send(sender=bob, conversation_id=conversation.pk, body=str(i), client_id=f"c{i}")[0].pk
        for i in range(5)
    ]
    client = client_for(alice)
    first = client.get(f"/api/conversations/{conversation.pk}/messages?limit=3").json()
    second = client.get(first["next"]).json()
    assert [m["id"] for m in first["results"] + second["results"]] == ids[::-1]
    assert first["results"][0]["body"] == "4"
    assert second["next"] is None


@pytest.mark.django_db
def test_message_list_costs_the_same_queries_for_any_page_size(client_for):
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    for i in range(25):
        message_send(sender=bob if i % 2 else alice, conversation_id=conversation.pk, body=str(i), client_id=f"c{i}")
    client = client_for(alice)
    small, _ = _count_queries(client, f"/api/conversations/{conversation.pk}/messages?limit=2")
    large, body = _count_queries(client, f"/api/conversations/{conversation.pk}/messages?limit=25")
    assert len(body["results"]) == 25
    assert small == large


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_someone_elses_conversation_is_404_without_data(client_for, method):
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    theirs = direct(bob, carol)
    message_send(sender=bob, conversation_id=theirs.pk, body="private", client_id="c1")
    client = client_for(alice)
    url = f"/api/conversations/{theirs.pk}/messages"
    response = client.get(url) if method == "get" else client.post(url, {"body": "x", "client_id": "z"}, format="json")
    assert_error(response, 404, "not_found")
    assert b"private" not in response.content
    missing = client.get(f"/api/conversations/{theirs.pk + 999}/messages")
    assert_error(missing, 404, "not_found")
    huge = client.get(f"/api/conversations/{2**80}/messages")
    assert_error(huge, 404, "not_found")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"client_id": "c1"}, "body"),
        ({"body": "", "client_id": "c1"}, "body"),
        ({"body": "   ", "client_id": "c1"}, "body"),
        ({"body": "x" * 4001, "client_id": "c1"}, "body"),
        ({"body": "nul\u0000", "client_id": "c1"}, "body"),
        ({"body": ["list"], "client_id": "c1"}, "body"),
        ({"body": "hi"}, "client_id"),
        ({"body": "hi", "client_id": ""}, "client_id"),
        ({"body": "hi", "client_id": "c" * 65}, "client_id"),
    ],
)
def test_send_with_bad_input_is_400_naming_the_field(client_for, payload, field):
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    response = client_for(alice).post(f"/api/conversations/{conversation.pk}/messages", payload, format="json")
    body = assert_error(response, 400, "invalid")
    assert field in body["fields"]
    assert Message.objects.count() == 0


@pytest.mark.django_db
def test_reusing_a_client_id_in_another_conversation_is_409(client_for):
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    with_bob, with_carol = direct(alice, bob), direct(alice, carol)
    client = client_for(alice)
    payload = {"body": "hi", "client_id": "same"}
    assert client.post(f"/api/conversations/{with_bob.pk}/messages", payload, format="json").status_code == 201
    response = client.post(f"/api/conversations/{with_carol.pk}/messages", payload, format="json")
    assert_error(response, 409, "conflict")


@pytest.mark.django_db
def test_sending_to_someone_who_blocked_you_is_403(client_for):
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    Block.objects.create(blocker=bob, blocked=alice)
    response = client_for(alice).post(
        f"/api/conversations/{conversation.pk}/messages", {"body": "hi", "client_id": "c1"}, format="json"
    )
    assert_error(response, 403, "permission_denied")


@pytest.mark.django_db
def test_sends_are_throttled_by_the_message_scope_and_reads_are_not(client_for, monkeypatch):
    # given
    monkeypatch.setattr(ScopedThrottle, "THROTTLE_RATES", {**ScopedThrottle.THROTTLE_RATES, "message": "2/min"})
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    client = client_for(alice)
    url = f"/api/conversations/{conversation.pk}/messages"
    # when
    statuses = [client.post(url, {"body": "hi", "client_id": f"c{i}"}, format="json").status_code for i in range(3)]
    read = client.get(url)
    # then
    assert statuses == [201, 201, 429]
    assert read.status_code == 200
    throttled = client.post(url, {"body": "hi", "client_id": "c9"}, format="json")
    assert_error(throttled, 429, "throttled")


# POST /api/conversations/{id}/read


@pytest.mark.django_db
def test_read_moves_my_position_and_clears_unread(client_for):
    # given
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    message_send(sender=bob, conversation_id=conversation.pk, body="1", client_id="c1")
    last, _ = message_send(sender=bob, conversation_id=conversation.pk, body="2", client_id="c2")
    client = client_for(alice)
    assert client.get("/api/conversations").json()["results"][0]["unread_count"] == 2
    # when
    response = client.post(f"/api/conversations/{conversation.pk}/read", {"message_id": last.pk}, format="json")
    # then
    assert response.status_code == 200
    assert response.json() == {"conversation": conversation.pk, "last_read_message_id": last.pk}
    assert client.get("/api/conversations").json()["results"][0]["unread_count"] == 0
    reads = [f for f in events.replay(user_id=bob.pk, after=0) if f["event"] == "message.read"]
    assert [f["data"] for f in reads] == [
        {"conversation": conversation.pk, "user": user_brief(alice), "message_id": last.pk}
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload", [{}, {"message_id": "abc"}, {"message_id": 0}, {"message_id": 2**64}, {"message_id": 424242}]
)
def test_read_with_a_bad_message_id_is_400(client_for, payload):
    alice, bob = UserFactory(), UserFactory()
    conversation = direct(alice, bob)
    response = client_for(alice).post(f"/api/conversations/{conversation.pk}/read", payload, format="json")
    body = assert_error(response, 400, "invalid")
    assert "message_id" in body["fields"]


@pytest.mark.django_db
def test_read_in_someone_elses_conversation_is_404(client_for):
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    theirs = direct(bob, carol)
    message, _ = message_send(sender=bob, conversation_id=theirs.pk, body="x", client_id="c1")
    response = client_for(alice).post(f"/api/conversations/{theirs.pk}/read", {"message_id": message.pk}, format="json")
    assert_error(response, 404, "not_found")

"""Property-based fuzzing of the REST API against its own generated OpenAPI schema.

Schemathesis turns each operation of the schema into Hypothesis strategies: valid inputs
(positive) and inputs that break the schema (negative: wrong types, missing fields, values
out of bounds, odd strings). Each case runs in-process through the WSGI app against the real
PostgreSQL test database, as an authenticated user who owns some data, and half the cases
aim their path parameters at objects that exist (mine and someone else's). Whatever the
input: never a 5xx, and every 4xx is a JSON `{"detail", "code"}` body.

Bounded and deterministic: a fixed number of examples per operation, derandomized.
"""

import json
import uuid

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from accounts.export import export_build
from accounts.models import ExportJob
from chat.services import conversation_open, message_send
from feed.models import Hashtag, PostHashtag
from feed.services import comment_create, post_create
from feed.story_services import story_create
from tests.factories import UserFactory, image_bytes, image_upload, issue_token

MAX_EXAMPLES = 25


def _schema() -> schemathesis.BaseSchema:
    generated = SchemaGenerator().get_schema(request=None, public=True)
    raw = json.loads(OpenApiJsonRenderer().render(generated))
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = get_wsgi_application()
    return schema


SCHEMA = _schema()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.fixture
def in_test_transaction(db):
    """Requests run on the test's connection, inside its transaction (rolled back at the
    end), as Django's test client does: the WSGI handler must not close it between requests."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(in_test_transaction):
    """A signed-in user with a post, a comment and a conversation, and a stranger with a
    post of their own: the known ids path parameters are aimed at."""
    me, friend = UserFactory(), UserFactory()
    mine = post_create(author=me, image=image_upload(), caption="mine")
    theirs = post_create(author=friend, image=image_upload(), caption="theirs")
    comment = comment_create(author=friend, post_id=mine.pk, body="hello @" + me.username)
    conversation, _ = conversation_open(creator=me, usernames=[friend.username])
    message, _ = message_send(sender=friend, conversation_id=conversation.pk, body="hi", client_id=str(uuid.uuid4()))
    my_story = story_create(author=me, image=image_upload())
    their_story = story_create(author=friend, image=image_upload())
    # A tag on my post, for the tag pages.
    tag = Hashtag.objects.create(name=f"fuzz{uuid.uuid4().hex[:8]}", post_count=1)
    PostHashtag.objects.create(hashtag=tag, post=mine)
    # A finished export of mine, built here rather than by the worker (downloadable once).
    my_export = ExportJob.objects.create(user=me, file_name=f"{uuid.uuid4().hex}.zip")
    export_build(my_export)
    ExportJob.objects.filter(pk=my_export.pk).update(status=ExportJob.READY)
    return {
        "user": me,
        "token": issue_token(me),
        "known": {
            "post_id": [mine.pk, theirs.pk],
            "comment_id": [comment.pk],
            "conversation_id": [conversation.pk],
            "message_id": [message.pk],
            "story_id": [my_story.pk, their_story.pk],
            "export_id": [my_export.pk],
            "name": [tag.name],
            "username": [friend.username, me.username],
        },
    }


def _label(operation) -> str:
    return f"{operation.method.upper()} {operation.path}"


def _aim_at_known_objects(case, known: dict, pick: int) -> None:
    for name in list(case.path_parameters or {}):
        choices = known.get(name)
        if choices:
            case.path_parameters[name] = choices[pick % len(choices)]
    if isinstance(case.body, dict):
        if case.operation.path == "/api/posts":
            case.body["image"] = image_bytes()
        if "usernames" in case.body:
            case.body["usernames"] = known["username"][:1]
        if "message_id" in case.body:
            case.body["message_id"] = known["message_id"][0]


def _check(response) -> None:
    request = f"{response.request.method} {response.request.url}"
    assert response.status_code < 500, (request, response.status_code, response.text[:1000])
    if 400 <= response.status_code < 500:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), (
            request,
            response.status_code,
            content_type,
            response.text[:300],
        )
        body = json.loads(response.text)
        assert isinstance(body.get("detail"), str) and isinstance(body.get("code"), str), (request, body)
        if body["code"] == "invalid":
            assert isinstance(body.get("fields"), dict), (request, body)


def _can_break(operation) -> bool:
    """Whether the schema leaves room for a negative case (a body, a query parameter or a
    typed path parameter); a free-form string path parameter has no invalid value."""
    return bool(
        len(operation.body)
        or len(operation.query)
        or any(p.definition.get("schema", {}).get("type") != "string" for p in operation.path_parameters)
    )


def _fuzz(operation, mode: GenerationMode, world: dict, max_examples: int) -> list[int]:
    logout = operation.path == "/api/auth/logout"

    @settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        aim=st.integers(min_value=0, max_value=3),
        who=st.sampled_from(["me", "me", "me", "anonymous", "bad token"]),
    )
    def run(case, aim, who):
        if aim:
            _aim_at_known_objects(case, world["known"], aim)
        if who == "me":
            # Logging out revokes the token it is called with: each logout gets one of its own.
            token = issue_token(world["user"]) if logout else world["token"]
            headers = {"Authorization": f"Token {token}"}
        elif who == "bad token":
            headers = {"Authorization": "Token " + "0" * 40}
        else:
            headers = {}
        response = case.call(headers=headers)
        _check(response)
        statuses.append(response.status_code)

    statuses: list[int] = []
    run()
    return statuses


@pytest.mark.parametrize("operation", OPERATIONS, ids=_label)
def test_no_input_makes_a_server_error(operation, world):
    statuses = _fuzz(operation, GenerationMode.POSITIVE, world, MAX_EXAMPLES)
    if operation.method.upper() == "GET":
        # The fuzzer gets through: valid reads as a signed-in user do succeed.
        assert any(200 <= status < 300 for status in statuses), statuses
    if _can_break(operation):
        _fuzz(operation, GenerationMode.NEGATIVE, world, MAX_EXAMPLES)

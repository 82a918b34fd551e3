"""Security properties, pinned: object access, input bounds, authentication, XSS surface,
secrets and information leaks. Each test names the attack it refuses."""

import base64

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken, hash_token
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def cursor(position: str) -> str:
    return base64.b64encode(f"p={position}".encode()).decode()


def raw_client(user=None) -> APIClient:
    """A token client whose server errors come back as responses (500s are findings)."""
    client = APIClient(raise_request_exception=False)
    if user is not None:
        key = ApiToken.new_key()
        ApiToken.objects.create(user=user, digest=hash_token(key))
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# (b) Input bounds: cursors, query parameters and ids


@pytest.mark.parametrize(
    "path",
    ["/api/feed", "/api/notifications", "/api/conversations", "/api/users", "/api/users/{name}/followers", "/api/users/{name}/posts"],
)
@pytest.mark.parametrize("position", ["abc", "1e5", "9" * 40, "2024-13-45T99:99", "\u00e9", ""])
def test_a_forged_cursor_position_is_a_404_never_a_500(path, position):
    # given
    user = UserFactory()
    client = raw_client(user)
    # when
    response = client.get(path.format(name=user.username), {"cursor": cursor(position)})
    # then: a position that fits the ordering gives a page; anything else "Invalid cursor"
    assert response.status_code in (200, 404), response.content
    assert response["Content-Type"] == "application/json"
    if response.status_code == 404:
        assert response.json()["code"] == "not_found"


def test_undecodable_cursor_and_odd_limits_are_handled():
    client = raw_client(UserFactory())
    assert client.get("/api/feed", {"cursor": "%%%not-base64"}).status_code == 404
    for limit in ("-1", "abc", "100000", "0", "9" * 50):
        response = client.get("/api/notifications", {"limit": limit})
        assert response.status_code == 200
        assert len(response.json()["results"]) <= 100

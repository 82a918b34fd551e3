"""The page views of the browser app, through Django's test client (fast; no browser):
who may see which shell, the CSRF cookie, safe redirects after logging in."""

import re

import pytest
from django.test import Client

from accounts.models import USERNAME_PATTERN
from accounts.services import BIO_MAX, FULL_NAME_MAX
from chat.models import BODY_MAX, Conversation, Participant
from feed.models import CAPTION_MAX, COMMENT_MAX, Post
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PAGES = ["/", "/upload", "/inbox", "/notifications", "/search", "/explore", "/t/lake", "/settings"]


def session_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", PAGES + ["/u/someone", "/p/1", "/inbox/1"])
def test_pages_need_a_session_and_redirect_to_login(path):
    # when
    response = Client().get(path)

    # then
    assert response.status_code == 302
    assert response["Location"] == f"/login?next={path}"


@pytest.mark.parametrize("path", ["/login", "/signup"])
def test_login_and_signup_are_open_and_set_the_csrf_cookie(path):
    response = Client().get(path)

    assert response.status_code == 200
    assert "csrftoken" in response.cookies
    assert b'type="module"' in response.content


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_for_a_signed_in_user_with_their_identity(path, user):
    response = session_client(user).get(path)

    assert response.status_code == 200
    assert f'data-me-id="{user.id}"'.encode() in response.content
    assert "csrftoken" in response.cookies


def test_signed_in_user_is_sent_home_from_login(user):
    assert session_client(user).get("/login")["Location"] == "/"


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [("/inbox", "/inbox"), ("https://evil.example/x", "/"), ("//evil.example", "/"), ("/\\evil.example", "/")],
)
def test_login_page_only_keeps_a_local_next(next_url, expected):
    response = Client().get("/login", {"next": next_url})

    assert f'data-next="{expected}"'.encode() in response.content


def test_profile_of_a_missing_user_is_not_found(user):
    response = session_client(user).get("/u/nobody_here")

    assert response.status_code == 404
    assert b"Not found" in response.content


def test_profile_escapes_the_username_it_echoes(user):
    other = UserFactory(username="a.b_c")
    response = session_client(user).get(f"/u/{other.username}")

    assert response.status_code == 200
    assert b'data-profile="a.b_c"' in response.content


def test_conversation_page_only_for_participants():
    # given
    owner, friend, stranger = UserFactory(), UserFactory(), UserFactory()
    conversation = Conversation.objects.create()
    Participant.objects.create(conversation=conversation, user=owner)
    Participant.objects.create(conversation=conversation, user=friend)

    # when
    mine = session_client(owner).get(f"/inbox/{conversation.id}")
    theirs = session_client(stranger).get(f"/inbox/{conversation.id}")
    missing = session_client(owner).get("/inbox/99999999")
    huge = session_client(owner).get(f"/inbox/{2**70}")

    # then
    assert mine.status_code == 200
    assert friend.username.encode() in mine.content
    assert theirs.status_code == missing.status_code == huge.status_code == 404


def test_post_page_of_a_missing_post_is_not_found(user):
    assert session_client(user).get("/p/123456789").status_code == 404
    assert session_client(user).get(f"/p/{2**70}").status_code == 404


def test_pages_refuse_writes(user):
    assert session_client(user).post("/").status_code == 405


def test_static_modules_are_served():
    for name in ["app.js", "socket.js", "api.js", "util.js", "pages/conversation.js", "app.css"]:
        response = Client().get(f"/static/frontend/{name}")
        assert response.status_code == 200, name
        body = b"".join(response.streaming_content)
        assert body
    assert (
        Client()
        .get("/static/frontend/app.js")["Content-Type"]
        .startswith(("text/javascript", "application/javascript"))
    )


# --- the limits the pages' scripts check come from the server --------------------------


def body_data(html: bytes) -> dict[str, str]:
    """The data- attributes of a page's <body>."""
    body = re.search(rb"<body([^>]*)>", html)[1].decode()
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body))


def test_conversation_page_carries_the_servers_message_limit(user):
    # given
    conversation = Conversation.objects.create()
    Participant.objects.create(conversation=conversation, user=user)

    # when
    response = session_client(user).get(f"/inbox/{conversation.id}")

    # then: the script's check and the textarea's maxlength are chat.models.BODY_MAX
    assert BODY_MAX == 4000
    assert body_data(response.content)["body-max"] == str(BODY_MAX)
    assert re.search(rf'<textarea id="message-body"[^>]* maxlength="{BODY_MAX}"', response.content.decode())


def test_post_upload_and_profile_pages_carry_the_servers_limits(user):
    # given
    post = Post.objects.create(author=user, image="posts/x.jpg", thumbnail="thumbs/x.jpg")
    client = session_client(user)

    # when
    post_page = client.get(f"/p/{post.id}").content
    upload_page = client.get("/upload").content
    profile_page = client.get(f"/u/{user.username}").content

    # then
    assert body_data(post_page)["comment-max"] == str(COMMENT_MAX)
    assert f'maxlength="{COMMENT_MAX}"'.encode() in post_page
    assert body_data(upload_page)["caption-max"] == str(CAPTION_MAX)
    assert f'maxlength="{CAPTION_MAX}"'.encode() in upload_page
    assert f"0 / {CAPTION_MAX}".encode() in upload_page
    assert body_data(profile_page)["image-max-bytes"] == body_data(upload_page)["image-max-bytes"]
    assert f'id="edit-bio" name="bio" rows="2" maxlength="{BIO_MAX}"'.encode() in profile_page
    assert f'maxlength="{FULL_NAME_MAX}"'.encode() in profile_page


def test_the_image_limit_follows_the_setting(user, settings):
    # given
    settings.IMAGE_MAX_BYTES = 5 * 1024 * 1024

    # when
    page = session_client(user).get("/upload").content

    # then
    assert body_data(page)["image-max-bytes"] == str(5 * 1024 * 1024)
    assert b"up to 5 MB each" in page


@pytest.mark.parametrize("path", ["/login", "/signup"] + PAGES)
def test_every_page_carries_the_username_rule_without_anchors(path, user):
    client = Client() if path in ("/login", "/signup") else session_client(user)

    pattern = body_data(client.get(path).content)["username-pattern"]

    assert f"^{pattern}$" == USERNAME_PATTERN


def test_signup_form_checks_the_servers_username_rule_and_password_length():
    page = Client().get("/signup").content.decode()

    data = body_data(page.encode())
    assert data["username-message"] == "A username is 3 to 30 letters, digits, underscores or dots."
    assert data["password-min"] == "8"
    assert f'minlength="3" maxlength="30" pattern="{USERNAME_PATTERN[1:-1]}"' in page
    assert 'minlength="8"' in page

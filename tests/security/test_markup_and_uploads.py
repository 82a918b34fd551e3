"""XSS surface: what /media/ and /static/ serve, what uploads become, and how user text reaches pages."""

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from feed.models import Post
from tests.factories import UserFactory, image_upload
from tests.security.helpers import direct_conversation, raw_client

pytestmark = pytest.mark.django_db


def polyglot_jpeg() -> bytes:
    """A valid JPEG whose comment segment holds an HTML page."""
    from tests.factories import image_bytes

    jpeg = image_bytes()
    payload = b"<html><script>alert(document.cookie)</script></html>"
    comment = b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + comment + jpeg[2:]


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("page.html", b"<script>alert(document.cookie)</script>"),
        ("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"),
        ("noext", b"<script>alert(1)</script>"),
        ("x.js", b"alert(1)"),
    ],
)
def test_media_never_serves_a_file_as_html_svg_or_script(name, payload, settings):
    # given: a file that reached the media folder other than through the image pipeline
    settings.MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
    (settings.MEDIA_ROOT / name).write_bytes(payload)
    # when
    response = Client().get(f"/media/{name}")
    # then: a download that cannot run script in the site's origin
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == "attachment"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_an_uploaded_image_is_served_as_an_image(client_for):
    # given
    post = client_for(UserFactory()).post("/api/posts", {"image": image_upload()}, format="multipart").json()
    # when
    response = Client().get(post["image_url"])
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert not response.get("Content-Disposition", "").startswith("attachment")


@pytest.mark.parametrize(
    "path",
    [
        "/media/../manage.py",
        "/media/%2e%2e/manage.py",
        "/media/..%2fmanage.py",
        "/media//etc/passwd",
        "/media/%2fetc%2fpasswd",
        "/static/../../manage.py",
        "/static/%2e%2e/%2e%2e/config/settings.py",
        "/static/..%2f..%2frealtime%2fsettings.py",
        "/static//etc/passwd",
        "/static/frontend/../../../config/settings.py",
        # names the file system refuses are missing files too, never a 500
        "/media/%00",
        "/media/a%00b.jpg",
        "/static/%00",
        "/static/frontend/%00.js",
        "/media/%0a",
        "/media/" + "a" * 300 + ".jpg",
        "/static/" + "a" * 300 + ".js",
        "/media/" + "a/" * 3000,
        "/media/",
        "/media/.",
        "/static/",
    ],
)
def test_static_and_media_paths_cannot_leave_their_roots(path, settings):
    settings.MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
    response = Client(raise_request_exception=False).get(path)
    assert response.status_code == 404
    assert b"SECRET_KEY" not in b"".join(response) if response.streaming else b"SECRET_KEY" not in response.content


def test_the_load_balancer_serves_media_as_images_or_downloads_only():
    conf = (Path(settings.BASE_DIR) / "deploy" / "nginx.conf").read_text()
    media = conf[conf.index("location /media/") : conf.index("location /ws/")]
    assert "default_type application/octet-stream;" in media
    assert "image/jpeg jpg jpeg;" in media
    assert "svg" not in media and "html" not in media
    assert "sandbox" in media and "nosniff" in media


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "image/svg+xml"),
        ("x.html", b"<html><script>alert(1)</script></html>", "text/html"),
        ("x.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg"),
    ],
)
def test_script_dressed_as_an_image_is_refused(name, data, content_type):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = raw_client(UserFactory())
    for path, method, field in (("/api/posts", "post", "image"), ("/api/me", "patch", "avatar")):
        response = getattr(client, method)(
            path, {field: SimpleUploadedFile(name, data, content_type=content_type)}, format="multipart"
        )
        assert response.status_code == 400, response.content
        assert field in response.json()["fields"]


def test_a_polyglot_image_is_stored_re_encoded_without_its_payload(settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    # given
    upload = SimpleUploadedFile("x.html", polyglot_jpeg(), content_type="text/html")
    # when
    post = raw_client(UserFactory()).post("/api/posts", {"image": upload}, format="multipart").json()
    # then
    stored = Post.objects.get(pk=post["id"])
    for name in (stored.image.name, stored.thumbnail.name):
        assert name.endswith(".jpg") and "x.html" not in name
        assert b"<script>" not in (settings.MEDIA_ROOT / name).read_bytes()
    assert post["image_url"].endswith(".jpg")


def test_app_pages_carry_a_script_policy_that_forbids_inline_and_foreign_script():
    # given
    user = UserFactory()
    client = Client()
    client.force_login(user)
    pages = [
        (client, "/"),
        (client, f"/u/{user.username}"),
        (client, "/inbox/999999"),
        (client, "/search?q=%22%3E%3Cscript%3E"),
    ]
    pages += [(Client(), "/login"), (Client(), "/signup")]
    for browser, path in pages:
        # when
        response = browser.get(path)
        # then
        policy = response["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert response["X-Frame-Options"] == "DENY"
        assert b"<script>" not in response.content
    # and the pages have no inline script or handler the policy would break
    templates = Path(settings.BASE_DIR) / "frontend" / "templates" / "frontend"
    for template in templates.glob("*.html"):
        text = template.read_text()
        assert "<script>" not in text and " onclick=" not in text and "style=" not in text, template.name


def test_the_frontend_never_turns_data_into_markup_or_code():
    # User data reaches the page through text nodes and attributes set one by one (util.js `h`).
    sinks = (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "srcdoc",
        "javascript:",
    )
    scripts = list((Path(settings.BASE_DIR) / "frontend" / "static" / "frontend").rglob("*.js"))
    assert len(scripts) > 5
    for script in scripts:
        text = script.read_text()
        for sink in sinks:
            assert sink not in text or f"never through {sink}" in text, f"{script.name} uses {sink}"
    # and the templates autoescape everything they print
    for template in (Path(settings.BASE_DIR) / "frontend" / "templates" / "frontend").glob("*.html"):
        text = template.read_text()
        assert "|safe" not in text and "autoescape off" not in text, template.name


def test_markup_in_user_fields_comes_back_as_data_and_pages_escape_it():
    # given: a profile and a conversation title full of markup
    evil = UserFactory(username="evil_one", full_name='"><img src=x onerror=alert(1)>')
    alice = UserFactory()
    conversation = direct_conversation(alice, evil)
    page = Client()
    page.force_login(alice)
    # when
    html = (
        page.get(f"/inbox/{conversation}").content.decode()
        + page.get("/search", {"q": '"><script>x</script>'}).content.decode()
    )
    profile = raw_client(alice).get("/api/users/evil_one").json()
    # then: the API returns the text as text, and no page prints it unescaped
    assert profile["full_name"] == '"><img src=x onerror=alert(1)>'
    assert "<img src=x" not in html and "<script>x</script>" not in html


def test_the_api_docs_page_loads_no_script_from_another_origin():
    import re

    page = Client().get("/api/docs/")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.content.decode())
    assert sources and all(src.startswith(("/", "#")) for src in sources), sources
    asset = next(src for src in sources if src.endswith("swagger-ui-bundle.js"))
    assert Client().get(asset).status_code == 200


@pytest.mark.parametrize("path", ["/api/docs/", "/admin/login/"])
def test_the_api_docs_and_the_admin_carry_a_policy_without_inline_or_foreign_script(path):
    import re

    # when
    page = Client().get(path)
    # then: a policy that runs only this origin's script files
    assert page.status_code == 200
    policy = dict((directive.split(" ", 1) + [""])[:2] for directive in page["Content-Security-Policy"].split("; "))
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'none'"
    # and the page needs no more: no inline script, no handler attribute
    html = page.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert not re.search(r"\son[a-z]+=", html), "inline handler"


def test_the_api_docs_start_up_script_is_a_file_of_this_origin():
    import re

    page = Client().get("/api/docs/").content.decode()
    scripts = re.findall(r'<script src="([^"]+)"', page)
    start = next(src for src in scripts if "script" in src.split("?", 1)[-1])
    response = Client().get(start.replace("&amp;", "&"))
    assert response.status_code == 200 and "javascript" in response["Content-Type"]

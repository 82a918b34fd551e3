"""Signing up, logging in and out in a real Chromium, and screenshots of the main pages at
phone and desktop widths (written to screenshots/ at the repository root)."""

import re

from playwright.sync_api import expect

from tests import browser_helpers
from tests.browser_helpers import DESKTOP, PHONE, SCREENSHOTS, WAIT_MS, unique_username, wait_ready, wait_socket_open
from tests.factories import PASSWORD, image_bytes

browser, server, people = browser_helpers.browser, browser_helpers.server, browser_helpers.people


def test_sign_up_log_out_and_log_in_again(browser, server):
    context = browser.new_context(viewport=DESKTOP)
    errors = []
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    username = unique_username("new")
    try:
        # given: signed out, a page that needs a session sends us to log in
        page.goto(f"{server.base_url}/inbox")
        page.wait_for_url(re.compile(r"/login\?next=/inbox$"))
        wait_ready(page)

        # when: sign up, with a bad username first
        page.get_by_role("link", name="Create an account").click()
        wait_ready(page)
        page.get_by_label("Username").fill("no spaces allowed")
        page.get_by_label("Email").fill(f"{username}@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign up").click()
        expect(page.locator(".field-error[data-field=username]")).to_be_visible()
        page.get_by_label("Username").fill(username)
        page.get_by_role("button", name="Sign up").click()

        # then: home, signed in
        page.wait_for_url(f"{server.base_url}/", timeout=WAIT_MS)
        wait_ready(page)
        wait_socket_open(page)
        expect(page.locator("#feed-empty")).to_be_visible()

        # when: log out
        page.get_by_role("button", name="Log out").click()

        # then: back to the log-in page, and signed out for real
        page.wait_for_url(f"{server.base_url}/login", timeout=WAIT_MS)
        assert context.request.get(f"{server.base_url}/api/me").status in (401, 403)

        # when: a wrong password, then the right one, on the way to the inbox
        page.goto(f"{server.base_url}/inbox")
        page.wait_for_url(re.compile(r"/login\?next=/inbox$"))
        wait_ready(page)
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill("wrong-password-123")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#login-error")).to_be_visible(timeout=WAIT_MS)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")

        # then: where we were going
        page.wait_for_url(f"{server.base_url}/inbox", timeout=WAIT_MS)
        wait_ready(page)
        expect(page.get_by_role("heading", name="Messages")).to_be_visible()
    finally:
        context.close()
    assert not errors


def test_a_conversation_of_others_is_not_found(people):
    # given: a conversation between A and B
    a, b, c = people("own"), people("oth"), people("out")
    conversation = a.api("POST", "/api/conversations", {"usernames": [b.username]})

    # when: C opens it
    page = c.context.new_page()
    response = page.goto(f"{c.base_url}/inbox/{conversation['id']}")

    # then
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def test_edit_own_profile_with_an_avatar(people):
    # given
    a = people("pat")
    page = a.open(f"/u/{a.username}")
    expect(page.locator("#follow-button")).to_be_hidden()
    expect(page.locator("#profile-edit")).to_be_hidden()

    # when
    page.get_by_role("button", name="Edit profile").click()
    page.get_by_label("Name").fill("Pat <Q>")
    page.get_by_label("Bio").fill("bio with <b>tags</b>")
    page.get_by_label("Avatar").set_input_files(
        {"name": "a.png", "mimeType": "image/png", "buffer": image_bytes(fmt="PNG", size=(90, 90))}
    )
    page.get_by_role("button", name="Save").click()

    # then
    expect(page.locator("#profile-bio")).to_have_text("bio with <b>tags</b>", timeout=WAIT_MS)
    expect(page.locator("#profile-full-name")).to_have_text("Pat <Q>")
    expect(page.locator("#profile-avatar")).to_be_visible()
    expect(page.locator("#profile-edit")).to_be_hidden()
    profile = a.api("GET", "/api/me")
    assert profile["bio"] == "bio with <b>tags</b>"
    assert profile["avatar_url"]


def login_context(browser, server, username: str, viewport: dict):
    context = browser.new_context(viewport=viewport)
    response = context.request.post(
        f"{server.base_url}/api/auth/login", data={"username": username, "password": PASSWORD}
    )
    assert response.status == 200, response.text()
    return context


def test_screenshots_of_the_main_pages_at_phone_and_desktop_widths(browser, server, people):
    # given: a person with an avatar, posts, comments, a conversation and notifications
    me, friend = people("mia"), people("noa")
    me.api(
        "PATCH",
        "/api/me",
        multipart={
            "avatar": {
                "name": "me.png",
                "mimeType": "image/png",
                "buffer": image_bytes(fmt="PNG", size=(160, 160), color=(240, 170, 60)),
            },
            "bio": "Photos of light and water.",
            "full_name": "Mia Example",
        },
    )
    me.api("POST", f"/api/users/{friend.username}/follow")
    friend.api("POST", f"/api/users/{me.username}/follow")
    colours = [(30, 120, 200), (220, 80, 60), (60, 170, 90), (150, 90, 200), (240, 200, 40)]
    posts = [
        (me if n % 2 else friend).api(
            "POST",
            "/api/posts",
            multipart={
                "image": {
                    "name": "p.jpg",
                    "mimeType": "image/jpeg",
                    "buffer": image_bytes(size=(600, 600), color=colour),
                },
                "caption": f"Picture {n} at the lake #{n}",
            },
        )
        for n, colour in enumerate(colours)
    ]
    mine = [post for post in posts if post["author"]["username"] == me.username]
    friend.api("POST", f"/api/posts/{mine[0]['id']}/like")
    friend.api("POST", f"/api/posts/{mine[0]['id']}/comments", {"body": f"Beautiful, @{me.username}!"})
    me.api("POST", f"/api/posts/{mine[0]['id']}/comments", {"body": "Thank you! It was a calm morning."})
    conversation = me.api("POST", "/api/conversations", {"usernames": [friend.username]})
    for n, (who, body) in enumerate(
        [
            (friend, "Are you coming to the lake on Saturday?"),
            (me, "Yes! I'll bring the camera."),
            (friend, "Great, see you at 9."),
            (me, "See you there!"),
        ]
    ):
        who.api("POST", f"/api/conversations/{conversation['id']}/messages", {"body": body, "client_id": f"shot-{n}"})

    SCREENSHOTS.mkdir(exist_ok=True)
    pages = [
        ("feed", "/"),
        ("profile", f"/u/{me.username}"),
        ("post", f"/p/{mine[0]['id']}"),
        ("inbox", "/inbox"),
        ("conversation", f"/inbox/{conversation['id']}"),
        ("upload", "/upload"),
    ]
    written = []
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        context = login_context(browser, server, me.username, viewport)
        try:
            page = context.new_page()
            errors = []
            page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
            for name, path in pages:
                page.goto(f"{server.base_url}{path}")
                wait_ready(page)
                # Lazy images load once scrolled to; a full-page shot should show them.
                page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
                # (a function, not an expression: the pages' CSP forbids eval)
                page.wait_for_function(
                    "() => [...document.images].filter((img) => img.getAttribute('src'))"
                    ".every((img) => img.complete && img.naturalWidth > 0)"
                )
                page.evaluate("window.scrollTo(0, 0)")
                target = SCREENSHOTS / f"{name}-{label}.png"
                page.screenshot(path=str(target), full_page=name != "conversation")
                written.append(target)
            # The notifications menu, open.
            page.goto(f"{server.base_url}/")
            wait_ready(page)
            page.locator("#notif-button").click()
            expect(page.locator("#notif-panel li.notif")).to_have_count(3)
            target = SCREENSHOTS / f"notifications-{label}.png"
            page.screenshot(path=str(target))
            written.append(target)
            assert not errors, errors
        finally:
            context.close()
        anonymous = browser.new_context(viewport=viewport)
        try:
            page = anonymous.new_page()
            page.goto(f"{server.base_url}/login")
            wait_ready(page)
            target = SCREENSHOTS / f"login-{label}.png"
            page.screenshot(path=str(target))
            written.append(target)
            page.goto(f"{server.base_url}/signup")
            wait_ready(page)
            target = SCREENSHOTS / f"signup-{label}.png"
            page.screenshot(path=str(target))
            written.append(target)
        finally:
            anonymous.close()

    # then: every page was captured, none of them empty
    assert len(written) == 2 * (len(pages) + 3)
    assert all(path.stat().st_size > 5000 for path in written)


def test_logging_out_in_one_tab_sends_the_other_tab_to_log_in(people):
    # given: two tabs of one session
    a = people("tab")
    first = a.open("/inbox")
    second = a.open("/")
    wait_socket_open(second)

    # when
    first.get_by_role("button", name="Log out").click()
    first.wait_for_url(f"{a.base_url}/login", timeout=WAIT_MS)

    # then: the other tab's socket is refused and it goes to the log-in page
    second.wait_for_url(re.compile(r"/login\?next=(/|%2F)$"), timeout=WAIT_MS)


def test_times_read_relative_and_ids_are_uuids_even_without_secure_context(people):
    # given
    page = people("tim").open("/")

    # when: the page's own helpers, as its modules use them
    result = page.evaluate(
        """async () => {
            const util = await import("/static/frontend/util.js");
            const now = Date.parse("2025-01-01T12:00:00Z");
            const at = (seconds) => new Date(now - seconds * 1000).toISOString();
            const randomUUID = crypto.randomUUID;
            crypto.randomUUID = undefined;
            const fallback = util.uuid();
            crypto.randomUUID = randomUUID;
            return {
                times: [10, 120, 3 * 3600, 2 * 86400].map((s) => util.relativeTime(at(s), now)),
                fallback,
                escaped: util.h("p", {}, "<b>x</b>").outerHTML,
            };
        }"""
    )

    # then
    assert result["times"] == ["just now", "2 min ago", "3 h ago", "2 d ago"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", result["fallback"])
    assert result["escaped"] == "<p>&lt;b&gt;x&lt;/b&gt;</p>"

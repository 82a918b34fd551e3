"""Photos in a real Chromium against a live daphne: uploading, the live feed banner, likes
and comments reaching the author's badge and post page, escaping, profiles."""

import re

from playwright.sync_api import expect

from tests import browser_helpers
from tests.browser_helpers import WAIT_MS, wait_ready, wait_socket_open
from tests.factories import image_bytes

browser, server, people = browser_helpers.browser, browser_helpers.server, browser_helpers.people

XSS = "<script>alert(1)</script> <img src=x onerror=alert(2)>"


def test_like_and_comment_update_authors_badge_and_post_page_live(people):
    # given: A's post, open on A's screen; B on the same post
    a, b = people("ava"), people("bea")
    post = a.post_photo(caption="sunset")
    page_a = a.open(f"/p/{post['id']}")
    page_b = b.open(f"/p/{post['id']}")
    wait_socket_open(page_a)
    expect(page_a.locator("#notif-badge")).to_be_hidden()
    expect(page_a.locator("#like-count")).to_have_text("0")

    # when: B likes and comments
    page_b.locator("#like-button").click()
    expect(page_b.locator("#like-button")).to_have_attribute("aria-pressed", "true")
    expect(page_b.locator("#like-count")).to_have_text("1")
    page_b.locator("#comment-body").fill(f"lovely {XSS}")
    page_b.locator("#comment-body").press("Enter")
    expect(page_b.locator("#comments li.comment")).to_have_count(1, timeout=WAIT_MS)

    # then: A's badge counts up and A's post page updates, without a reload
    expect(page_a.locator("#notif-badge")).to_have_text("2", timeout=WAIT_MS)
    expect(page_a.locator("#like-count")).to_have_text("1", timeout=WAIT_MS)
    expect(page_a.locator("#comment-count")).to_have_text("1")
    comment = page_a.locator("#comments li.comment")
    expect(comment).to_have_count(1)
    expect(comment.locator(".comment-text")).to_have_text(f"lovely {XSS}")
    expect(page_a.locator("#comments img, #comments script")).to_have_count(0)

    # when: A opens the menu
    page_a.locator("#notif-button").click()

    # then: both notifications are listed and the badge clears
    panel = page_a.locator("#notif-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("li.notif")).to_have_count(2)
    expect(panel.locator("li.notif").first).to_contain_text(b.username)
    expect(page_a.locator("#notif-badge")).to_be_hidden(timeout=WAIT_MS)
    page_a.keyboard.press("Escape")
    expect(panel).to_be_hidden()


def test_new_post_banner_appears_live_in_followers_feed(people):
    # given: B follows A and watches the home feed
    a, b = people("cal"), people("cyd")
    b.api("POST", f"/api/users/{a.username}/follow")
    a.post_photo(caption="older")
    feed = b.open("/")
    wait_socket_open(feed)
    expect(feed.locator("#feed article.post-card")).to_have_count(1)
    expect(feed.locator("#new-posts")).to_be_hidden()

    # when: A posts
    fresh = a.post_photo(caption="just now")

    # then: B is told without a reload, and the post shows on click
    expect(feed.locator("#new-posts")).to_have_text("↑ 1 new post", timeout=WAIT_MS)
    feed.locator("#new-posts").click()
    expect(feed.locator("#feed article.post-card")).to_have_count(2)
    expect(feed.locator("#feed article.post-card").first).to_have_attribute("data-id", str(fresh["id"]))
    expect(feed.locator("#new-posts")).to_be_hidden()


def test_feed_scrolls_infinitely(people):
    # given: 23 posts, more than one page of 20
    a = people("dee")
    for n in range(23):
        a.post_photo(caption=f"post {n}")
    feed = a.open("/")
    cards = feed.locator("#feed article.post-card")
    expect(cards).to_have_count(20)

    # when
    feed.locator("#feed-sentinel").scroll_into_view_if_needed()

    # then
    expect(cards).to_have_count(23, timeout=WAIT_MS)
    expect(cards.last.locator(".caption")).to_contain_text("post 0")


def test_upload_with_script_caption_renders_it_as_text(people):
    # given
    a = people("eli")
    page = a.open("/upload")

    # when: a photo with a hostile caption, through the form
    page.locator("#upload-image").set_input_files(
        {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": image_bytes(size=(400, 300))}
    )
    expect(page.locator("#upload-preview")).to_be_visible()
    page.locator("#upload-caption").fill(XSS)
    expect(page.locator("#upload-caption-count")).to_have_text(f"{len(XSS)} / 2200")
    page.locator("#upload-submit").click()

    # then: the post page shows the caption as text, no element or dialog came of it
    page.wait_for_url(re.compile(r"/p/\d+$"), timeout=WAIT_MS)
    wait_ready(page)
    expect(page.locator("#post-caption")).to_have_text(XSS)
    expect(page.locator("#post-caption *")).to_have_count(0)
    expect(page.locator("#post-media img")).to_have_count(1)

    # and in the feed and the profile too
    feed = a.open("/")
    expect(feed.locator("#feed .caption")).to_have_text(f"{a.username} {XSS}")
    expect(feed.locator("#feed .caption script, #feed .caption img")).to_have_count(0)
    profile = a.open(f"/u/{a.username}")
    expect(profile.locator("#profile-grid a.grid-item")).to_have_count(1)
    expect(profile.locator("#count-posts")).to_have_text("1")


def test_upload_refuses_a_non_image_and_shows_the_servers_error(people):
    # given
    a = people("fin")
    page = a.open("/upload")
    error = page.locator("#upload-error")

    # when: a text file
    page.locator("#upload-image").set_input_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"})

    # then: refused before upload
    expect(error).to_contain_text("not an image")
    page.locator("#upload-submit").click()
    expect(error).to_contain_text("not an image")

    # when: a file that claims to be a JPEG but is not; the server decides
    fake = {"name": "fake.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8 definitely not a jpeg" * 10}
    page.locator("#upload-image").set_input_files(fake)
    page.locator("#upload-submit").click()

    # then: the server's JSON detail is shown, and nothing was posted
    response = a.context.request.post(
        f"{a.base_url}/api/posts",
        headers={"Authorization": f"Token {a.token}"},
        multipart={"image": fake, "caption": ""},
    )
    assert response.status in (400, 415)
    expect(error).to_have_text(response.json()["detail"], timeout=WAIT_MS)
    assert page.url.endswith("/upload")
    assert a.api("GET", f"/api/users/{a.username}")["post_count"] == 0

    # when: an image over 10 MB: refused in the browser, before any upload
    page.locator("#upload-image").set_input_files(
        {"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8" + b"\0" * (10 * 1024 * 1024 + 1)}
    )
    expect(error).to_contain_text("the limit is 10 MB")


def test_profile_follow_button_and_message_button(people):
    # given
    a, b = people("gil"), people("hal")
    a.post_photo(caption="one")
    a.api("PATCH", "/api/me", {"bio": "I take <i>photos</i>", "full_name": "Gil Photo"})
    # when: B searches for A by a prefix of the name and opens the profile
    page = b.open("/search")
    page.get_by_label("Username").press_sequentially(a.username[:-2], delay=10)
    result = page.locator("#search-results a", has_text=a.username)
    expect(result).to_have_count(1, timeout=WAIT_MS)
    result.click()
    page.wait_for_url(f"{b.base_url}/u/{a.username}")
    wait_ready(page)
    follow = page.locator("#follow-button")

    # then: the profile renders, bio as text
    expect(page.locator("#profile-bio")).to_have_text("I take <i>photos</i>")
    expect(page.locator("#profile-full-name")).to_have_text("Gil Photo")
    expect(page.locator("#count-followers")).to_have_text("0")
    expect(page.locator("#profile-grid a.grid-item")).to_have_count(1)
    expect(follow).to_have_text("Follow")

    # when: follow, by keyboard
    follow.focus()
    page.keyboard.press("Enter")

    # then
    expect(follow).to_have_text("Following", timeout=WAIT_MS)
    expect(page.locator("#count-followers")).to_have_text("1")
    assert b.api("GET", f"/api/users/{a.username}")["is_following"] is True

    # when: message
    page.locator("#message-button").click()

    # then: the conversation with A opens
    page.wait_for_url(re.compile(r"/inbox/\d+$"), timeout=WAIT_MS)
    wait_ready(page)
    expect(page.locator("#chat-title")).to_have_text(a.username)


def test_upload_checks_follow_the_limits_the_server_prints(people):
    # given: the upload page with its caption and image limits changed on the way to the browser
    a = people("lim")
    page = a.open(
        "/upload",
        rewrite={
            'data-caption-max="2200"': 'data-caption-max="10"',
            f'data-image-max-bytes="{10 * 1024 * 1024}"': 'data-image-max-bytes="2097152"',
        },
    )
    error = page.locator("#upload-error")

    # when
    page.locator("#upload-caption").fill("abc")
    page.locator("#upload-image").set_input_files(
        {"name": "big.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8" + b"\0" * (3 * 1024 * 1024)}
    )

    # then: the counter and the size check use the printed limits
    expect(page.locator("#upload-caption-count")).to_have_text("3 / 10")
    expect(error).to_contain_text("the limit is 2 MB")

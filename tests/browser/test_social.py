"""Private accounts, carousels, caption edits, saves, hashtags and explore in a real
Chromium against a live daphne, as people use them, with screenshots of the new pages at
phone and desktop widths (written to screenshots/)."""

import re

from playwright.sync_api import expect

from tests import browser_helpers
from tests.browser_helpers import DESKTOP, PHONE, SCREENSHOTS, WAIT_MS, wait_ready, wait_socket_open
from tests.factories import image_bytes

browser, server, people = browser_helpers.browser, browser_helpers.server, browser_helpers.people

COLOURS = [(30, 120, 200), (220, 80, 60), (60, 170, 90)]


def photo_files(n: int = 3) -> list[dict]:
    return [
        {
            "name": f"photo{i}.jpg",
            "mimeType": "image/jpeg",
            "buffer": image_bytes(size=(400, 400), color=COLOURS[i % 3]),
        }
        for i in range(n)
    ]


def test_private_account_request_accept_and_the_posts_appear(people):
    # given: A with a post, her own profile open; B on A's profile in another browser
    a, b = people("pia"), people("ben")
    a.post_photo(caption="garden #private")
    page_a = a.open(f"/u/{a.username}")
    wait_socket_open(page_a)

    # when: A makes her account private from the profile form
    page_a.locator("#edit-button").click()
    page_a.get_by_label("Private account").check()
    page_a.get_by_role("button", name="Save", exact=True).click()
    expect(page_a.locator("#follow-requests")).to_be_visible(timeout=WAIT_MS)
    expect(page_a.locator("#request-list")).to_contain_text("No pending requests")

    # then: B sees the profile but not the photos, and asks to follow
    page_b = b.open(f"/u/{a.username}")
    wait_socket_open(page_b)
    expect(page_b.locator("#private-notice")).to_be_visible()
    expect(page_b.locator("#profile-grid .grid-item")).to_have_count(0)
    expect(page_b.locator("#count-posts")).to_have_text("1")
    page_b.locator("#follow-button").click()
    expect(page_b.locator("#follow-button")).to_have_text("Requested", timeout=WAIT_MS)

    # A's request list fills in live; she accepts
    request = page_a.locator("#request-list li.request")
    expect(request).to_have_count(1, timeout=WAIT_MS)
    expect(request).to_contain_text(b.username)
    request.get_by_role("button", name="Accept").click()
    expect(page_a.locator("#count-followers")).to_have_text("1", timeout=WAIT_MS)

    # and B's open profile page shows the posts, without a reload
    expect(page_b.locator("#follow-button")).to_have_text("Following", timeout=WAIT_MS)
    expect(page_b.locator("#profile-grid .grid-item")).to_have_count(1, timeout=WAIT_MS)
    expect(page_b.locator("#private-notice")).to_be_hidden()


def test_post_three_photos_and_swipe_through_them(people):
    a = people("sam")
    page = a.open("/upload")
    page.locator("#upload-image").set_input_files(photo_files(3))
    expect(page.locator("#upload-preview-count")).to_have_text("1 of 3 photos")
    page.locator("#upload-caption").fill("three in a row")
    page.locator("#upload-submit").click()
    page.wait_for_url(re.compile(r"/p/\d+$"))
    wait_ready(page)

    carousel = page.locator("#post-media .carousel")
    expect(carousel).to_have_attribute("data-count", "3")
    dots = carousel.locator(".carousel-dot")
    expect(dots).to_have_count(3)
    expect(dots.nth(0)).to_have_attribute("aria-current", "true")

    # the arrow button
    carousel.get_by_role("button", name="Next photo").click()
    expect(carousel).to_have_attribute("data-index", "1")
    expect(dots.nth(1)).to_have_attribute("aria-current", "true")
    # the keyboard
    carousel.focus()
    page.keyboard.press("ArrowRight")
    expect(carousel).to_have_attribute("data-index", "2")
    page.keyboard.press("ArrowRight")  # the last one stays
    expect(carousel).to_have_attribute("data-index", "2")
    page.keyboard.press("ArrowLeft")
    expect(carousel).to_have_attribute("data-index", "1")
    # a swipe (a pointer drag, as a finger makes) to the right goes back
    box = carousel.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, y, steps=5)
    page.mouse.up()
    expect(carousel).to_have_attribute("data-index", "0")
    # and a dot
    dots.nth(2).click()
    expect(carousel).to_have_attribute("data-index", "2")
    expect(carousel.locator(".carousel-slide").nth(2)).to_have_attribute("aria-hidden", "false")


def test_edit_a_caption_and_watch_it_change_in_another_browser_then_save_it(people):
    # given: B follows A and has A's post in the feed
    a, b = people("eve"), people("fay")
    b.api("POST", f"/api/users/{a.username}/follow")
    post = a.post_photo(caption="first words")
    feed_b = b.open("/")
    wait_socket_open(feed_b)
    card = feed_b.locator(f'.post-card[data-id="{post["id"]}"]')
    expect(card.locator(".caption")).to_contain_text("first words")
    expect(card.locator(".edited")).to_be_hidden()

    # when: A edits the caption on the post page
    page_a = a.open(f"/p/{post['id']}")
    page_a.locator("#edit-post").click()
    page_a.locator("#edit-caption").fill("better words #edited")
    page_a.get_by_role("button", name="Save caption").click()
    expect(page_a.locator("#post-caption")).to_have_text("better words #edited")
    expect(page_a.locator("#post-edited")).to_be_visible()

    # then: B's feed shows it at once, marked edited, the tag linked
    expect(card.locator(".caption")).to_contain_text("better words", timeout=WAIT_MS)
    expect(card.locator(".edited")).to_be_visible()
    expect(card.locator(".caption a.hashtag")).to_have_attribute("href", "/t/edited")

    # when: B saves it, then opens the Saved tab of her profile
    card.locator(".save-button").click()
    expect(card.locator(".save-button")).to_have_attribute("aria-pressed", "true")
    profile = b.open(f"/u/{b.username}")
    profile.get_by_role("tab", name="Saved").click()
    expect(profile.get_by_role("tab", name="Saved")).to_have_attribute("aria-selected", "true")
    expect(profile.locator(f'#profile-grid .grid-item[data-id="{post["id"]}"]')).to_have_count(1, timeout=WAIT_MS)

    # and when A deletes the post, B's feed and post page drop it live
    post_b = b.open(f"/p/{post['id']}")
    wait_socket_open(post_b)
    a.api("DELETE", f"/api/posts/{post['id']}")
    expect(card).to_have_count(0, timeout=WAIT_MS)
    expect(post_b.locator("#post")).to_contain_text("This post was deleted.", timeout=WAIT_MS)


def test_tap_a_hashtag_and_open_explore(people):
    # given: C (a stranger to D) posted photos with a tag
    c, d = people("cat"), people("dan")
    tag = f"lake{c.id}"
    first = c.post_photo(caption=f"morning at the #{tag}")
    c.post_photo(caption=f"evening #{tag.upper()}")
    page = d.open(f"/p/{first['id']}")

    # when: D taps the tag in the caption
    page.locator("#post-caption a.hashtag").click()
    page.wait_for_url(re.compile(rf"/t/{tag}$"))
    wait_ready(page)

    # then: the tag page shows its count and grid
    expect(page.locator("#tag-title")).to_have_text(f"#{tag}")
    expect(page.locator("#tag-count")).to_have_text("2")
    expect(page.locator("#tag-grid .grid-item")).to_have_count(2)

    # and search finds the tag beside people
    page.get_by_role("link", name="Search").click()
    wait_ready(page)
    page.locator("#search-q").fill(f"#{tag[:6]}")
    expect(page.locator("#tag-results")).to_contain_text(f"#{tag}", timeout=WAIT_MS)

    # when: D opens explore
    page.get_by_role("link", name="Explore").click()
    wait_ready(page)
    # then: C's photos are there (D does not follow C)
    expect(page.locator(f'#explore-grid .grid-item[data-id="{first["id"]}"]')).to_have_count(1, timeout=WAIT_MS)


def test_screenshots_of_the_new_pages_at_phone_and_desktop_widths(people):
    SCREENSHOTS.mkdir(exist_ok=True)
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        me, other = people(f"shot{label[0]}", viewport), people(f"pal{label[0]}", viewport)
        tag = f"shore{me.id}"
        carousel = me.api(
            "POST",
            "/api/posts",
            multipart={"image": photo_files(1)[0], "caption": f"three at the #{tag}"},
        )
        other.api("POST", "/api/posts", multipart={"image": photo_files(1)[0], "caption": f"#{tag} too"})
        me.api("PATCH", "/api/me", {"is_private": True})
        other.api("POST", f"/api/users/{me.username}/follow")
        me.api("POST", f"/api/posts/{carousel['id']}/save")
        shots = [("tag", f"/t/{tag}"), ("explore", "/explore"), ("profile-private", f"/u/{me.username}")]
        for name, path in shots:
            page = me.open(path, viewport=viewport)
            page.wait_for_function(
                "() => [...document.images].filter((img) => img.getAttribute('src'))"
                ".every((img) => img.complete && img.naturalWidth > 0)"
            )
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
        page = me.open(f"/u/{me.username}", viewport=viewport)
        page.get_by_role("tab", name="Saved").click()
        expect(page.locator("#profile-grid .grid-item")).to_have_count(1, timeout=WAIT_MS)
        page.screenshot(path=str(SCREENSHOTS / f"saved-{label}.png"), full_page=True)
        # a three-photo post, on the second photo
        page = me.open("/upload", viewport=viewport)
        page.locator("#upload-image").set_input_files(photo_files(3))
        page.locator("#upload-caption").fill(f"a carousel #{tag}")
        page.locator("#upload-submit").click()
        page.wait_for_url(re.compile(r"/p/\d+$"))
        wait_ready(page)
        page.locator("#post-media .carousel-next").click()
        page.wait_for_timeout(400)
        page.screenshot(path=str(SCREENSHOTS / f"carousel-{label}.png"), full_page=True)
        assert (SCREENSHOTS / f"carousel-{label}.png").stat().st_size > 0

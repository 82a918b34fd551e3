"""Stories in a real Chromium against a live daphne, as a person would use them: post a
story from the tray, watch it from another account (the ring turns from unseen to seen,
the progress bars, arrow keys and taps), then see "seen by"; screenshots of the tray and
the viewer at phone and desktop widths."""

from playwright.sync_api import expect

from tests import browser_helpers
from tests.browser_helpers import DESKTOP, PHONE, SCREENSHOTS, WAIT_MS, wait_socket_open
from tests.factories import image_bytes

browser, server, people = browser_helpers.browser, browser_helpers.server, browser_helpers.people


def story_file(colour, name: str = "story.jpg") -> dict:
    return {"name": name, "mimeType": "image/jpeg", "buffer": image_bytes(size=(360, 640), color=colour)}


def post_story(person, colour) -> dict:
    return person.api("POST", "/api/stories", multipart={"image": story_file(colour)})


def test_post_a_story_watch_it_from_another_account_then_see_seen_by(people):
    # given: bob follows ava; both have the home feed open
    ava, bob = people("ava"), people("bob")
    bob.api("POST", f"/api/users/{ava.username}/follow")
    ava_feed = ava.open("/")
    bob_feed = bob.open("/")
    wait_socket_open(bob_feed)
    expect(bob_feed.locator("#tray-list .tray-item[data-user]")).to_have_count(0)

    # when: ava adds a photo to her story from the tray
    ava_feed.locator("#story-input").set_input_files(story_file((240, 120, 40)))
    expect(ava_feed.locator("#story-status")).to_have_text("Your story is shared for 24 hours.", timeout=WAIT_MS)
    expect(ava_feed.locator(f"#tray-list .tray-item[data-user='{ava.username}'] .tray-button")).to_have_class(
        "tray-button ring-unseen"
    )

    # then: bob's tray shows her with an unseen ring, live
    ring = bob_feed.locator(f"#tray-list .tray-item[data-user='{ava.username}'] .tray-button")
    expect(ring).to_have_class("tray-button ring-unseen", timeout=WAIT_MS)

    # when: ava adds a second one over the API, and bob opens her stories
    post_story(ava, (40, 120, 220))
    bob_feed.reload()
    browser_helpers.wait_ready(bob_feed)
    ring.click()

    # then: the viewer shows the first, with one progress bar per story
    viewer = bob_feed.locator("#story-viewer")
    expect(viewer).to_be_visible()
    expect(viewer.locator(".story-progress .bar")).to_have_count(2)
    expect(viewer.locator(".story-who")).to_contain_text(ava.username)
    first_story = viewer.get_attribute("data-story")
    expect(viewer.locator("#story-mine")).to_be_hidden()

    # arrow keys go on and back; a tap on the right side goes on
    bob_feed.keyboard.press("ArrowRight")
    expect(viewer).not_to_have_attribute("data-story", first_story)
    expect(viewer.locator(".story-progress .bar.done")).to_have_count(1)
    bob_feed.keyboard.press("ArrowLeft")
    expect(viewer).to_have_attribute("data-story", first_story)
    bob_feed.locator("#story-next").click()
    expect(viewer.locator(".story-progress .bar.done")).to_have_count(1)
    # the last story runs out by itself and the viewer closes
    expect(viewer).to_be_hidden(timeout=WAIT_MS)
    expect(ring).to_have_class("tray-button ring-seen")

    # when: ava opens her own story
    ava_feed.reload()
    browser_helpers.wait_ready(ava_feed)
    ava_feed.locator(f"#tray-list .tray-item[data-user='{ava.username}'] .tray-button").click()
    own = ava_feed.locator("#story-viewer")
    expect(own).to_be_visible()

    # then: "seen by" names bob
    seen_by = own.locator("#story-seen-by")
    expect(seen_by).to_have_text("Seen by 1", timeout=WAIT_MS)
    seen_by.click()
    expect(own.locator("#story-viewers .viewer")).to_have_count(1)
    expect(own.locator("#story-viewers .viewer")).to_contain_text(bob.username)
    SCREENSHOTS.mkdir(exist_ok=True)
    ava_feed.screenshot(path=str(SCREENSHOTS / "stories-seen-by-desktop.png"))
    ava_feed.keyboard.press("Escape")
    expect(own).to_be_hidden()


def test_screenshots_of_the_tray_and_the_viewer_at_phone_and_desktop_widths(people):
    SCREENSHOTS.mkdir(exist_ok=True)
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        # given: someone following three people with stories, one of them seen
        viewer_person = people(f"zoe_{label}", viewport)
        friends = [people(f"{name}_{label}", viewport) for name in ("lia", "max", "ned")]
        for n, friend in enumerate(friends):
            viewer_person.api("POST", f"/api/users/{friend.username}/follow")
            friend.api(
                "POST",
                "/api/posts",
                multipart={"image": story_file((30 + 60 * n, 140, 200 - 50 * n)), "caption": "lake"},
            )
            story = post_story(friend, (200 - 60 * n, 90 + 50 * n, 60 + 40 * n))
            if n == 2:
                viewer_person.api("POST", f"/api/stories/{story['id']}/seen")
        page = viewer_person.open("/", viewport)
        expect(page.locator("#tray-list .tray-item[data-user]")).to_have_count(3)
        expect(page.locator("#tray-list .ring-unseen")).to_have_count(2)
        page.screenshot(path=str(SCREENSHOTS / f"stories-tray-{label}.png"))
        # the viewer, mid-story
        page.locator("#tray-list .ring-unseen").first.click()
        expect(page.locator("#story-viewer")).to_be_visible()
        page.wait_for_function("() => document.querySelector('#story-image').complete")
        page.screenshot(path=str(SCREENSHOTS / f"stories-viewer-{label}.png"))
        page.keyboard.press("Escape")

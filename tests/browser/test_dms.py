"""DESIGN 6.5 in a real Chromium, two browsers as two people: a photo, a reply, a heart by
double-click seen on the other side, edit and unsend live, "Seen" after a reload, mute, a
stranger's message under Requests until accepted, and a hidden tab's desktop notifications
and title count. Screenshots at phone and desktop widths go to screenshots/."""

import re
import uuid

from playwright.sync_api import expect

from tests import browser_helpers
from tests.browser_helpers import DESKTOP, PHONE, SCREENSHOTS, WAIT_MS, wait_socket_open
from tests.factories import image_bytes

browser, server, people = browser_helpers.browser, browser_helpers.server, browser_helpers.people


def bubble(page, text: str):
    return page.locator("#messages li.msg", has=page.locator(".msg-body", has_text=text))


def send(page, text: str) -> None:
    page.locator("#message-body").fill(text)
    page.locator("#message-body").press("Enter")


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"))
    page.set_viewport_size(DESKTOP)


def test_photo_reply_heart_edit_unsend_seen_and_mute_between_two_browsers(people):
    # given: alice and bob (who follows her) each on their conversation page
    alice, bob = people("ana"), people("ben")
    bob.api("POST", f"/api/users/{alice.username}/follow")
    conversation = alice.api("POST", "/api/conversations", {"usernames": [bob.username]})["id"]
    page_a = alice.open(f"/inbox/{conversation}")
    page_b = bob.open(f"/inbox/{conversation}")
    wait_socket_open(page_a)
    wait_socket_open(page_b)

    # a photo: bob sees its thumbnail, linked to the full size
    page_a.locator("#message-photo").set_input_files(
        {"name": "lake.png", "mimeType": "image/png", "buffer": image_bytes(fmt="PNG", size=(300, 200))}
    )
    photo = page_b.locator("#messages li.msg.theirs .msg-photo")
    expect(photo).to_have_count(1, timeout=WAIT_MS)
    expect(photo.locator("img")).to_have_attribute("src", re.compile(r"/media/dm-thumbs/.*\.jpg$"))

    # a reply: bob answers alice's text; alice sees the quote above it
    send(page_a, "see you at noon")
    expect(bubble(page_b, "see you at noon")).to_have_count(1, timeout=WAIT_MS)
    bubble(page_b, "see you at noon").locator("button[data-act='reply']").click()
    expect(page_b.locator("#reply-bar")).to_be_visible()
    send(page_b, "where exactly?")
    reply_a = bubble(page_a, "where exactly?")
    expect(reply_a.locator(".msg-quote")).to_contain_text("see you at noon", timeout=WAIT_MS)

    # a heart by double-click: bob sees it under his message
    reply_a.locator(".msg-body").dblclick()
    expect(bubble(page_b, "where exactly?").locator(".msg-reactions")).to_contain_text("❤️", timeout=WAIT_MS)

    # edit, live on bob's side
    bubble(page_a, "see you at noon").locator("button[data-act='edit']").click()
    page_a.locator("#message-body").fill("see you at one")
    page_a.locator("#message-body").press("Enter")
    edited = bubble(page_b, "see you at one")
    expect(edited).to_have_count(1, timeout=WAIT_MS)
    expect(edited.locator(".msg-edited")).to_be_visible()
    # and the quote of it follows
    expect(bubble(page_b, "where exactly?").locator(".msg-quote")).to_contain_text("see you at one")

    # unsend, live on bob's side: the text is gone there
    send(page_a, "oops, wrong chat")
    expect(bubble(page_b, "oops, wrong chat")).to_have_count(1, timeout=WAIT_MS)
    unsend = bubble(page_a, "oops, wrong chat").locator("button[data-act='unsend']")
    unsend.click()
    bubble(page_a, "oops, wrong chat").locator("button[data-act='unsend-confirm']").click()
    expect(bubble(page_b, "oops, wrong chat")).to_have_count(0, timeout=WAIT_MS)
    expect(page_b.locator("#messages li.msg.deleted")).to_have_count(1)
    expect(page_a.locator("#messages li.msg.deleted")).to_have_count(1, timeout=WAIT_MS)
    shoot(page_b, "dm-thread")

    # "Seen" after a reload: bob's open page read everything
    page_a.reload()
    browser_helpers.wait_ready(page_a)
    expect(page_a.locator("#messages li.msg.mine.seen .msg-status")).to_have_text("Seen", timeout=WAIT_MS)

    # mute: kept across a reload
    page_b.locator("#chat-mute").click()
    expect(page_b.locator("#chat-mute")).to_have_text("Unmute", timeout=WAIT_MS)
    page_b.reload()
    browser_helpers.wait_ready(page_b)
    expect(page_b.locator("#chat-mute")).to_have_text("Unmute", timeout=WAIT_MS)


def test_a_strangers_message_lands_under_requests_and_accepting_moves_it(people):
    stranger, me = people("sam"), people("tia")
    conversation = stranger.api("POST", "/api/conversations", {"usernames": [me.username]})["id"]
    inbox = me.open("/inbox")
    wait_socket_open(inbox)
    # when: the stranger writes
    stranger.api(
        "POST", f"/api/conversations/{conversation}/messages", {"body": "hi, saw your photos", "client_id": "s-1"}
    )
    # then: not in the inbox, but under Requests (counted on its tab)
    expect(inbox.locator("#tab-requests")).to_have_text("Requests (1)", timeout=WAIT_MS)
    expect(inbox.locator("#conversations li.conversation")).to_have_count(0)
    expect(inbox.locator("#inbox-badge")).to_be_hidden()
    inbox.locator("#tab-requests").click()
    item = inbox.locator(f"#conversations li[data-id='{conversation}']")
    expect(item).to_be_visible(timeout=WAIT_MS)
    shoot(inbox, "dm-requests")
    # when: I open it and accept
    item.locator("a").click()
    browser_helpers.wait_ready(inbox)
    expect(inbox.locator("#chat-request")).to_be_visible(timeout=WAIT_MS)
    shoot(inbox, "dm-request")
    inbox.locator("#request-accept").click()
    expect(inbox.locator("#chat-request")).to_be_hidden(timeout=WAIT_MS)
    # then: it is in my inbox, and no longer a request
    inbox.goto(f"{me.base_url}/inbox")
    browser_helpers.wait_ready(inbox)
    expect(inbox.locator(f"#conversations li[data-id='{conversation}']")).to_be_visible(timeout=WAIT_MS)
    expect(inbox.locator("#tab-requests")).to_have_text("Requests", timeout=WAIT_MS)


def writing_to_bob(people, *prefixes: str):
    """alice, bob and carol; bob follows both, each has a conversation with him, and he has
    muted carol's: (alice, bob, carol, alice's conversation, carol's)."""
    alice, bob, carol = (people(prefix) for prefix in prefixes)
    for sender in (alice, carol):
        bob.api("POST", f"/api/users/{sender.username}/follow")
    loud = alice.api("POST", "/api/conversations", {"usernames": [bob.username]})["id"]
    quiet = carol.api("POST", "/api/conversations", {"usernames": [bob.username]})["id"]
    bob.api("POST", f"/api/conversations/{quiet}/mute")
    return alice, bob, carol, loud, quiet


def test_the_tab_title_counts_unread_conversations_and_a_muted_one_bumps_nothing(people):
    alice, bob, carol, loud, quiet = writing_to_bob(people, "cal", "dee", "eli")
    page = bob.open("/")
    wait_socket_open(page)
    base = page.title()
    # when: a message in the muted conversation, then one in the other
    carol.api("POST", f"/api/conversations/{quiet}/messages", {"body": "shh", "client_id": "q-1"})
    alice.api("POST", f"/api/conversations/{loud}/messages", {"body": "hello!", "client_id": "l-1"})
    # then: only the loud one counts, in the badge and in the title
    expect(page.locator("#inbox-badge")).to_have_text("1", timeout=WAIT_MS)
    expect(page).to_have_title(f"(1) {base}", timeout=WAIT_MS)
    carol.api("POST", f"/api/conversations/{quiet}/messages", {"body": "shh again", "client_id": "q-2"})
    page.wait_for_timeout(500)
    expect(page.locator("#inbox-badge")).to_have_text("1")


# A Notification the test can watch: the page asks permission through it and constructs it
# as it would Chromium's, and the tab can be told it is hidden (a headless tab is always
# visible to itself).
WATCHED_NOTIFICATIONS = """
(() => {
  let visibility = "visible";
  Object.defineProperty(Document.prototype, "visibilityState", { get: () => visibility, configurable: true });
  Object.defineProperty(Document.prototype, "hidden", { get: () => visibility === "hidden", configurable: true });
  window.__setVisibility = (state) => {
    visibility = state;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  window.__notices = [];
  class WatchedNotification {
    static permission = "default";
    static requestPermission() {
      WatchedNotification.permission = "granted";
      return Promise.resolve("granted");
    }
    constructor(title, options = {}) {
      this.title = title;
      this.body = options.body;
      this.tag = options.tag;
      this.closed = false;
      window.__notices.push(this);
    }
    close() {
      this.closed = true;
    }
  }
  window.Notification = WatchedNotification;
})();
"""


def notices(page) -> list[dict]:
    return page.evaluate("window.__notices.map(({title, body, tag}) => ({title, body, tag}))")


def test_a_hidden_tab_shows_desktop_notifications_and_counts_in_its_title(people):
    # given: bob, on his inbox, turns desktop notifications on; alice and carol write to him,
    # and he has muted carol's conversation
    alice, bob, carol, conversation, muted = writing_to_bob(people, "ada", "bea", "cy")
    post = bob.post_photo("sunset")
    bob.context.add_init_script(WATCHED_NOTIFICATIONS)
    page = bob.open("/inbox")
    wait_socket_open(page)
    title = page.title()
    page.get_by_role("button", name="Turn on desktop notifications").click()
    expect(page.get_by_role("button", name="Turn on desktop notifications")).to_be_hidden()

    # when: a message arrives while the tab is in view
    alice.api(
        "POST",
        f"/api/conversations/{conversation}/messages",
        {"body": "are you there?", "client_id": str(uuid.uuid4())},
    )
    # then: the title counts it, and no system notification interrupts
    expect(page).to_have_title(f"(1) {title}", timeout=WAIT_MS)
    assert notices(page) == []

    # when: the tab is hidden, then alice writes again and likes bob's post, and carol writes
    page.evaluate("window.__setVisibility('hidden')")
    alice.api(
        "POST",
        f"/api/conversations/{conversation}/messages",
        {"body": "lunch at noon?", "client_id": str(uuid.uuid4())},
    )
    alice.api("POST", f"/api/posts/{post['id']}/like")
    carol.api("POST", f"/api/conversations/{muted}/messages", {"body": "muted chatter", "client_id": str(uuid.uuid4())})
    carol.api(
        "POST", f"/api/conversations/{muted}/messages", {"body": "after the mute", "client_id": str(uuid.uuid4())}
    )

    # then: one notification for the message and one for the like, none for the muted
    # conversation; the title counts one unread conversation and one notification
    expect(page).to_have_title(f"(2) {title}", timeout=WAIT_MS)
    page.wait_for_function("window.__notices.length >= 2", timeout=WAIT_MS)
    page.wait_for_timeout(500)  # room for a wrong third notification (carol's) to show up
    shown = notices(page)
    assert shown[0] == {"title": alice.username, "body": "lunch at noon?", "tag": f"conversation-{conversation}"}
    assert shown[1]["title"] == alice.username and "liked" in shown[1]["body"]
    assert len(shown) == 2, shown

    # when: bob clicks the message's notification
    page.evaluate("window.__notices[0].onclick()")
    # then: its conversation opens
    expect(page).to_have_url(re.compile(rf"/inbox/{conversation}$"), timeout=WAIT_MS)

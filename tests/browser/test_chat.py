"""Direct messages in a real Chromium against a live daphne: live delivery, typing,
read receipts, going offline and coming back, the offline outbox, the inbox."""

import re
import time

from playwright.sync_api import expect

from tests import browser_helpers
from tests.browser_helpers import WAIT_MS, wait_ready, wait_socket_open

# The harness's fixtures, for this module.
browser, server, people = browser_helpers.browser, browser_helpers.server, browser_helpers.people


def open_conversation(a, b) -> int:
    """A 1:1 from a to b, in b's inbox (b follows a: no message request)."""
    b.api("POST", f"/api/users/{a.username}/follow")
    conversation = a.api("POST", "/api/conversations", {"usernames": [b.username]})
    return conversation["id"]


def bubbles(page, text: str):
    return page.locator("#messages li.msg", has=page.locator(".msg-body", has_text=text))


def test_dm_arrives_live_after_typing_and_shows_seen(people):
    # given: A and B in two browsers, both on their conversation
    a, b = people("ann"), people("bob")
    conversation_id = open_conversation(a, b)
    page_a = a.open(f"/inbox/{conversation_id}")
    page_b = b.open(f"/inbox/{conversation_id}")
    wait_socket_open(page_a)
    wait_socket_open(page_b)

    # when: A types
    page_a.locator("#message-body").press_sequentially("hello <b>bob</b>", delay=20)

    # then: B sees "typing…" before any message
    expect(page_b.locator("#typing")).to_have_text(f"{a.username} is typing…", timeout=WAIT_MS)
    expect(page_b.locator("#messages li.msg")).to_have_count(0)

    # when: A sends
    page_a.locator("#message-body").press("Enter")

    # then: B sees it without reloading, as text, and the typing line goes away
    mine = bubbles(page_b, "hello <b>bob</b>")
    expect(mine).to_have_count(1, timeout=WAIT_MS)
    expect(mine).to_have_class("msg theirs")
    expect(page_b.locator("#messages b")).to_have_count(0)
    expect(page_b.locator("#typing")).to_be_hidden()

    # and: B's open conversation reads it, and A sees "Seen"
    sent = bubbles(page_a, "hello <b>bob</b>")
    expect(sent.locator(".msg-status")).to_have_text("Seen", timeout=WAIT_MS)
    messages = a.api("GET", f"/api/conversations/{conversation_id}/messages")["results"]
    assert [m["body"] for m in messages] == ["hello <b>bob</b>"]


def test_offline_recipient_sees_all_missed_messages_exactly_once(people):
    # given
    a, b = people("amy"), people("ben")
    conversation_id = open_conversation(a, b)
    page_a = a.open(f"/inbox/{conversation_id}")
    page_b = b.open(f"/inbox/{conversation_id}")
    wait_socket_open(page_b)

    # when: B drops off the network and A sends three messages
    b.context.set_offline(True)
    expect(page_b.locator("#conn-status")).to_be_visible(timeout=WAIT_MS)
    expect(page_b.locator("#conn-status")).to_contain_text("offline")
    for n in range(1, 4):
        page_a.locator("#message-body").fill(f"while you were away {n}")
        page_a.locator("#message-body").press("Enter")
    for n in range(1, 4):
        expect(bubbles(page_a, f"while you were away {n}").locator(".msg-status")).to_have_text("Sent", timeout=WAIT_MS)
    page_b.wait_for_timeout(300)
    expect(page_b.locator("#messages li.msg")).to_have_count(0)

    # then: back online, B gets each of the three exactly once, in order
    b.context.set_offline(False)
    expect(page_b.locator("#conn-status")).to_be_hidden(timeout=WAIT_MS)
    expect(page_b.locator("#messages li.msg")).to_have_count(3, timeout=WAIT_MS)
    page_b.wait_for_timeout(500)
    expect(page_b.locator("#messages li.msg .msg-body")).to_have_text([f"while you were away {n}" for n in range(1, 4)])


def test_message_queued_offline_is_delivered_once(people):
    # given
    a, b = people("cat"), people("dan")
    conversation_id = open_conversation(a, b)
    page_a = a.open(f"/inbox/{conversation_id}")
    page_b = b.open(f"/inbox/{conversation_id}")
    wait_socket_open(page_a)
    wait_socket_open(page_b)

    # when: A is offline and sends
    a.context.set_offline(True)
    expect(page_a.locator("#conn-status")).to_be_visible(timeout=WAIT_MS)
    page_a.locator("#message-body").fill("written on the train")
    page_a.locator("#message-send").click()

    # then: it waits in the outbox, visibly queued, and B has nothing
    queued = bubbles(page_a, "written on the train")
    expect(queued).to_have_class("msg mine pending")
    expect(queued.locator(".msg-status")).to_contain_text("Queued")
    page_b.wait_for_timeout(500)
    expect(page_b.locator("#messages li.msg")).to_have_count(0)

    # when: A is back
    a.context.set_offline(False)

    # then: sent once, acked, and B sees it once
    expect(queued.locator(".msg-status")).to_have_text(re.compile(r"^(Sent|Seen)$"), timeout=WAIT_MS)
    expect(queued).not_to_have_class(re.compile(r"pending"))
    expect(bubbles(page_b, "written on the train")).to_have_count(1, timeout=WAIT_MS)
    page_b.wait_for_timeout(500)
    expect(page_b.locator("#messages li.msg")).to_have_count(1)
    expect(page_a.locator("#messages li.msg")).to_have_count(1)
    messages = b.api("GET", f"/api/conversations/{conversation_id}/messages")["results"]
    assert [m["body"] for m in messages] == ["written on the train"]
    assert (
        page_a.evaluate("JSON.parse(sessionStorage.getItem('instaclone.outbox.' + document.body.dataset.meId))") == []
    )


def test_inbox_reorders_live_with_unread_counts(people):
    # given: B has two conversations, the one with A older
    a, b, c = people("eve"), people("fay"), people("gus")
    with_a = open_conversation(a, b)
    a.api("POST", f"/api/conversations/{with_a}/messages", {"body": "first", "client_id": "c-1"})
    with_c = open_conversation(c, b)
    c.api("POST", f"/api/conversations/{with_c}/messages", {"body": "second", "client_id": "c-2"})
    inbox = b.open("/inbox")
    wait_socket_open(inbox)
    items = inbox.locator("#conversations li.conversation")
    expect(items).to_have_count(2)
    expect(items.first).to_have_attribute("data-id", str(with_c))

    # when: A writes again
    a.api("POST", f"/api/conversations/{with_a}/messages", {"body": "are you there?", "client_id": "c-3"})

    # then: A's conversation jumps to the top with 2 unread, live
    expect(items.first).to_have_attribute("data-id", str(with_a), timeout=WAIT_MS)
    expect(items.first.locator(".unread-count")).to_have_text("2")
    expect(items.first.locator(".preview")).to_have_text("are you there?")
    expect(inbox.locator("#inbox-badge")).to_have_text("2")

    # when: B opens it (reads it), then goes back
    inbox.locator(f"#conversations a[href='/inbox/{with_a}']").click()
    expect(inbox.locator("#messages li.msg")).to_have_count(2, timeout=WAIT_MS)
    inbox.go_back()  # at once: a read not yet confirmed is sent again as the page is left

    # then: no unread left for that conversation
    expect(inbox.locator(f"#conversations li[data-id='{with_a}']")).to_be_visible(timeout=WAIT_MS)
    expect(inbox.locator(f"#conversations li[data-id='{with_a}'] .unread-count")).to_have_count(0, timeout=WAIT_MS)


def test_a_read_still_unconfirmed_when_the_page_is_left_is_not_lost(people):
    # given: B has an unread message from A, and his socket will not carry his read (the
    # frame dropped on the way, as when the page is left with it still unsent)
    a, b = people("hal"), people("ivy")
    conversation = open_conversation(a, b)
    a.api("POST", f"/api/conversations/{conversation}/messages", {"body": "did you see it?", "client_id": "c-r1"})
    dropped = []

    def drop_reads(ws):
        server = ws.connect_to_server()
        ws.on_message(
            lambda message: dropped.append(message) if '"message.read"' in str(message) else server.send(message)
        )

    b.context.route_web_socket(re.compile(r"/ws/"), drop_reads)
    page = b.open(f"/inbox/{conversation}")
    expect(bubbles(page, "did you see it?")).to_be_visible(timeout=WAIT_MS)
    deadline = time.monotonic() + WAIT_MS / 1000
    while not dropped and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert dropped, "the page sent no read"
    assert b.api("GET", f"/api/conversations/{conversation}")["unread_count"] == 1

    # when: he leaves the page before the read is confirmed
    page.goto(f"{b.base_url}/inbox")
    wait_ready(page)

    # then: the read reached the server all the same (over REST, as the page was left)
    deadline = time.monotonic() + WAIT_MS / 1000
    while b.api("GET", f"/api/conversations/{conversation}")["unread_count"] and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert b.api("GET", f"/api/conversations/{conversation}")["unread_count"] == 0
    expect(page.locator(f"#conversations li[data-id='{conversation}'] .unread-count")).to_have_count(0, timeout=WAIT_MS)


def test_readme_walkthrough_alice_messages_bob_from_his_profile(people):
    # given: alice and bob in two windows; bob watches his inbox
    alice, bob = people("alice"), people("bob")
    bob.api("POST", f"/api/users/{alice.username}/follow")  # else alice's message is a request
    inbox = bob.open("/inbox")
    wait_socket_open(inbox)
    expect(inbox.locator("#inbox-empty")).to_be_visible()

    # when: alice searches for bob, opens his profile and presses Message
    page = alice.open("/search")
    page.get_by_label("Username").fill(bob.username)
    page.locator("#search-results a", has_text=bob.username).click()
    page.wait_for_url(f"{alice.base_url}/u/{bob.username}")
    wait_ready(page)
    page.get_by_role("button", name="Message").click()
    page.wait_for_url(re.compile(r"/inbox/\d+$"))
    wait_ready(page)
    wait_socket_open(page)
    page.locator("#message-body").press_sequentially("hi bob", delay=20)
    page.locator("#message-body").press("Enter")

    # then: bob's inbox shows the conversation live, unread
    item = inbox.locator("#conversations li.conversation")
    expect(item).to_have_count(1, timeout=WAIT_MS)
    expect(item.locator(".preview")).to_have_text("hi bob", timeout=WAIT_MS)
    expect(item.locator(".unread-count")).to_have_text("1")

    # when: alice types again, bob sees "typing…" in his inbox
    page.locator("#message-body").press_sequentially("are you", delay=20)
    expect(item.locator(".preview")).to_have_text("typing…", timeout=WAIT_MS)

    # when: bob opens it; then alice sees "Seen"
    item.locator("a").click()
    expect(inbox.locator("#messages li.msg.theirs")).to_have_count(1, timeout=WAIT_MS)
    expect(bubbles(page, "hi bob").locator(".msg-status")).to_have_text("Seen", timeout=WAIT_MS)


def test_message_length_check_follows_the_limit_the_server_prints(people):
    # given: A's conversation with B as the server renders it (data-body-max="4000")
    a, b = people("lim"), people("lou")
    conversation_id = open_conversation(a, b)
    page = a.open(f"/inbox/{conversation_id}")
    wait_socket_open(page)

    # when: one character over the limit (set by script: the textarea's maxlength stops typing)
    page.locator("#message-body").evaluate("(node) => { node.value = 'x'.repeat(4001); }")
    page.locator("#message-body").press("Enter")

    # then: refused in the page, in the server's number
    expect(page.locator("#message-error")).to_have_text("A message is at most 4,000 characters.")

    # when: the same page, its limit changed on the way to the browser (no socket there)
    lowered = a.open(f"/inbox/{conversation_id}", rewrite={'data-body-max="4000"': 'data-body-max="5"'})
    lowered.locator("#message-body").fill("123456")
    lowered.locator("#message-body").press("Enter")

    # then: the script checks the printed limit, not a copy of its own; nothing is queued
    expect(lowered.locator("#message-error")).to_have_text("A message is at most 5 characters.")
    expect(lowered.locator("#messages li.msg")).to_have_count(0)
    assert "123456" not in lowered.evaluate("JSON.stringify({ ...window.sessionStorage })")

"""The settings page in a real Chromium: sessions (list, revoke one, log out everywhere
else), password change, the download of one's data, deleting the account."""

import io
import re
import zipfile

from playwright.sync_api import expect

from tests import browser_helpers
from tests.browser_helpers import SCREENSHOTS, WAIT_MS
from tests.factories import PASSWORD

browser, server, people = browser_helpers.browser, browser_helpers.server, browser_helpers.people

NEW_PASSWORD = "amber-orchard-compass-71"


def test_sessions_password_export_and_deleting_the_account(browser, server, people):
    # given: a person signed in here (register, then login again in this browser: one
    # session, cycled, and two tokens)
    a = people("set")
    other = a.context.request.post(
        f"{server.base_url}/api/auth/login", data={"username": a.username, "password": PASSWORD}
    ).json()["token"]
    page = a.open("/settings")

    # then: three credentials listed, this browser's marked
    items = page.locator(".session-item")
    expect(items).to_have_count(3, timeout=WAIT_MS)
    expect(page.locator(".session-current")).to_have_count(1)
    expect(items.filter(has=page.locator(".session-current"))).to_have_attribute("data-kind", "session")

    # when: one token is revoked by its button
    token_row = items.filter(has_not=page.locator(".session-current")).filter(has_text="API token").first
    token_row.get_by_role("button", name="Revoke").click()
    expect(items).to_have_count(2, timeout=WAIT_MS)

    # when: log out everywhere else
    page.get_by_role("button", name="Log out everywhere else").click()
    expect(items).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator(".session-current")).to_be_visible()
    gone = a.context.request.get(f"{server.base_url}/api/me", headers={"Authorization": f"Token {other}"})
    assert gone.status == 401

    # when: a password change with a wrong current password, then the right one
    page.get_by_label("Current password").fill("not-the-password-1")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-error")).to_be_visible(timeout=WAIT_MS)
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-done")).to_be_visible(timeout=WAIT_MS)
    assert a.context.request.get(f"{server.base_url}/api/me").status == 200  # still signed in here

    # when: the data is prepared and downloaded
    page.get_by_role("button", name="Prepare a download of your data").click()
    link = page.get_by_role("link", name="Download your data")
    expect(link).to_be_visible(timeout=WAIT_MS)
    with page.expect_download() as download_info:
        link.click()
    path = download_info.value.path()
    with zipfile.ZipFile(io.BytesIO(open(path, "rb").read())) as archive:
        profile = archive.read("profile.json").decode()
    assert a.username in profile
    expect(link).to_be_hidden()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "settings-desktop.png"))

    # when: the account is deleted, first without confirming
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-error")).to_be_visible()
    page.get_by_label("Yes, delete my account for good").check()
    page.get_by_role("button", name="Delete my account").click()

    # then: back at the log-in page (sent there by the page, or by the socket its deletion
    # closed with 4401), and the account is gone
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.base_url)}/login(\?next=.*)?$"), timeout=WAIT_MS)
    login = a.context.request.post(
        f"{server.base_url}/api/auth/login", data={"username": a.username, "password": NEW_PASSWORD}
    )
    assert login.status == 400


def test_forgot_password_page_answers_the_same_for_any_address(browser, server):
    context = browser.new_context(viewport=browser_helpers.DESKTOP)
    try:
        page = context.new_page()
        page.goto(f"{server.base_url}/login")
        browser_helpers.wait_ready(page)
        page.get_by_role("link", name="Forgot your password?").click()
        browser_helpers.wait_ready(page)
        page.get_by_label("Email").fill("nobody-here@example.com")
        page.get_by_role("button", name="Send me a link").click()
        expect(page.locator("#forgot-done")).to_be_visible(timeout=WAIT_MS)
    finally:
        context.close()

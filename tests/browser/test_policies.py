"""The library pages under their Content-Security-Policy, in a real Chromium: the API docs
and the admin's login render, and the browser reports no violation of the policy."""

from tests import browser_helpers
from tests.browser_helpers import DESKTOP, SCREENSHOTS, WAIT_MS

browser, server = browser_helpers.browser, browser_helpers.server


def _open(browser, server, path: str):
    context = browser.new_context(viewport=DESKTOP, base_url=server.base_url)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{server.base_url}{path}")
    return context, page, problems


def test_the_api_docs_render_under_their_policy(browser, server):
    # when
    context, page, problems = _open(browser, server, "/api/docs/")
    try:
        # then: Swagger UI ran (its start-up script is a file) and listed the operations
        page.wait_for_selector(".opblock", timeout=WAIT_MS)
        assert page.locator(".opblock").count() > 10
        assert page.locator(".opblock-summary-path", has_text="/api/feed").count() >= 1
        page.wait_for_timeout(500)
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "api-docs-desktop.png"))
        assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    finally:
        context.close()


def test_the_admin_login_renders_under_its_policy(browser, server):
    context, page, problems = _open(browser, server, "/admin/login/")
    try:
        page.wait_for_selector("#login-form", timeout=WAIT_MS)
        # its stylesheet applied (a policy refusing it would leave the form unstyled)
        assert page.evaluate("() => getComputedStyle(document.querySelector('#header')).display") != "inline"
        page.wait_for_timeout(300)
        assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    finally:
        context.close()

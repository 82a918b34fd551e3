"""The browser app on `make run`'s embedded default: SQLite and the in-memory channel
layer, no Redis. The same live DM scenarios as on PostgreSQL and Redis."""

import pytest

from tests import browser_helpers
from tests.browser.test_chat import test_dm_arrives_live_after_typing_and_shows_seen as dm_live_scenario
from tests.browser.test_chat import test_offline_recipient_sees_all_missed_messages_exactly_once as offline_scenario

browser, people = browser_helpers.browser, browser_helpers.people


@pytest.fixture(scope="module")
def server():
    return browser_helpers.live_server(embedded=True)


def test_embedded_dm_arrives_live_after_typing_and_shows_seen(people, server):
    assert server.process.poll() is None
    dm_live_scenario(people)


def test_embedded_offline_recipient_sees_all_missed_messages_exactly_once(people):
    offline_scenario(people)

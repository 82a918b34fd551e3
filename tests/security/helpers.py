"""Helpers shared by the security tests."""

from rest_framework.test import APIClient

from chat.services import conversation_open
from tests.factories import issue_token


def raw_client(user=None) -> APIClient:
    """A token client whose server errors come back as responses (500s are findings)."""
    client = APIClient(raise_request_exception=False)
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user)}")
    return client


def direct_conversation(a, b) -> int:
    conversation, _ = conversation_open(creator=a, usernames=[b.username])
    return conversation.pk

"""What the contract tests from outside share: an account registered over REST (their node
is tests.servers.fresh_node)."""

import uuid

import httpx


class Account:
    def __init__(self, username: str, token: str, user_id: int):
        self.username, self.token, self.id = username, token, user_id

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Token {self.token}"}


def register_account(http: httpx.Client, *, prefix: str, password: str) -> tuple[Account, dict]:
    """A new person over REST: their Account and the `user` object the server returned."""
    username = f"{prefix}{uuid.uuid4().hex[:12]}"
    response = http.post(
        "/api/auth/register", json={"username": username, "email": f"{username}@example.com", "password": password}
    )
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    return Account(user["username"], response.json()["token"], user["id"]), user

"""What the contract tests from outside share: one daphne node on a database of its own, and
an account registered over REST."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.servers import Database, Node, server_env

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")


@contextmanager
def contract_node(name: str) -> Iterator[Node]:
    """A started node on a fresh database `instaclone_<name>`, killed and dropped after."""
    database = Database(prefix=f"instaclone_{name}").migrate(server_env())
    server = Node(
        server_env(DATABASE_URL=database.url, REDIS_URL=REDIS_URL, CHANNEL_PREFIX=f"{name}-{uuid.uuid4().hex[:8]}")
    )
    try:
        server.start()
        yield server
    finally:
        server.kill()
        database.drop()


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

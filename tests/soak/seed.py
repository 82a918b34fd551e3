"""The soak test's world, made in one process straight through the services (registering a
thousand people over REST would spend minutes on Argon2):

    python -m tests.soak.seed COUNT POSTERS OUT.json

COUNT people with one API token each; people 2i and 2i+1 share a 1:1 conversation and follow
each other (so neither side is a message request); person i also follows poster i % POSTERS,
so each post reaches about COUNT / POSTERS online followers. Writes
`{"users": [{"id", "username", "token"}], "conversations": [...], "posters": [...]}`.
"""

import json
import os
import sys
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402

from accounts.credentials import token_create  # noqa: E402
from accounts.models import User  # noqa: E402
from accounts.services import follow_create  # noqa: E402
from chat.services import conversation_open  # noqa: E402

PASSWORD = "soak-correct-horse-9"


def seed(count: int, posters: int) -> dict:
    tag = uuid.uuid4().hex[:6]
    hashed = make_password(PASSWORD)  # one Argon2 hash, shared: nobody logs in
    User.objects.bulk_create([User(username=f"s{tag}_{i}", password=hashed) for i in range(count)])
    users = list(User.objects.filter(username__startswith=f"s{tag}_").order_by("id"))
    tokens = [token_create(user=user) for user in users]
    conversations = []
    for i in range(0, count - 1, 2):
        a, b = users[i], users[i + 1]
        follow_create(follower=a, followee=b)
        follow_create(follower=b, followee=a)
        conversation, _ = conversation_open(creator=a, usernames=[b.username])
        conversations.append(conversation.pk)
    for i, user in enumerate(users):
        poster = users[i % posters]
        if poster.pk != user.pk and i ^ 1 != i % posters:
            follow_create(follower=user, followee=poster)
    return {
        "users": [{"id": u.pk, "username": u.username, "token": t} for u, t in zip(users, tokens, strict=True)],
        "conversations": conversations,
        "posters": list(range(posters)),
    }


if __name__ == "__main__":
    count, posters, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    with open(out, "w") as f:
        json.dump(seed(count, posters), f)

"""What accounts announces to the apps above it, which it does not import.

Each is sent inside the writer's transaction, so what a receiver writes (a notification and
its durable event) commits with it, or not at all. The notifications app connects to them
in its `AppConfig.ready()`.

- `follow_created` (`follower`, `followee`, `accepted`): a follow is new; `accepted` is
  true when it came from the followee accepting a request (the requester hears of it,
  and the followee, who just accepted, is not told of a new follower).
- `follow_requested` (`requester`, `target`): a request to follow a private account is new.
"""

from django.dispatch import Signal

follow_created = Signal()
follow_requested = Signal()

# The person's own data, for their export (accounts.export): receivers get `user` and
# `archive` (`add_json(name, data)`, `add_file(field_file) -> name in the zip`) and add what
# their app holds of that person. Sent in a worker thread, outside any transaction.
user_export = Signal()

# An account is about to be deleted (accounts.deletion), inside that transaction: receivers
# get `user` and undo what the cascade would get wrong (counts on other people's rows,
# messages in other people's conversations) and schedule their files for deletion after
# commit.
user_deleting = Signal()

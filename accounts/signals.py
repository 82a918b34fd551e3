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

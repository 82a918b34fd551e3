"""What accounts announces to the apps above it, which it does not import.

`follow_created` is sent by `follow_create` inside its transaction, with `follower` and
`followee`, when a follow is new. The notifications app connects to it (its
`AppConfig.ready()`), so its notification and durable event commit with the follow, or not
at all.
"""

from django.dispatch import Signal

follow_created = Signal()

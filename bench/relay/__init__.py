"""The stock relay: the DM path's reference peer, a minimal stand-alone Channels project.

No database and none of the project's code: one `AsyncWebsocketConsumer` at `/ws/`, a
socket authenticates with `?token=<user id>` and joins `user.<id>`; a `message.send` frame
is `group_send` to the recipient's group and the sender's (as the project's sender tabs get
`message.new` too), then acked. Like the project's gateway it sends `hello` first, so a
handshake is timed the same way on both (TCP connect to the first frame). The channel layer is channels-redis' pub/sub layer on
REDIS_URL, under the prefix RELAY_PREFIX. Run it from `bench/`, under daphne:

    cd bench && REDIS_URL=redis://localhost:6379/0 ../.venv/bin/daphne -p 8100 relay.asgi:application

`bench/dm_path.py` starts it itself and measures the project's node against it.
"""

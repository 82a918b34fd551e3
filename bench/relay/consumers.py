"""The relay's one consumer: stock Channels, as its documentation writes a chat consumer."""

import itertools
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

CLOSE_UNAUTHENTICATED = 4401
_ids = itertools.count(1)


class RelayConsumer(AsyncWebsocketConsumer):
    user_id: int | None = None

    async def connect(self):
        token = parse_qs(self.scope["query_string"].decode()).get("token", [""])[0]
        if not token.isdigit():
            await self.accept()
            await self.close(CLOSE_UNAUTHENTICATED)
            return
        self.user_id = int(token)
        self.group = f"user.{self.user_id}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send(text_data=json.dumps({"type": "hello", "user": {"id": self.user_id}, "last_event_id": 0}))

    async def disconnect(self, code):
        if self.user_id is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if self.user_id is None or text_data is None:
            return
        frame = json.loads(text_data)
        kind = frame.get("type")
        if kind == "ping":
            await self.send(text_data='{"type":"pong"}')
            return
        if kind != "message.send":
            await self.send(
                text_data=json.dumps(
                    {"type": "error", "ref": frame.get("ref"), "code": "unknown_type", "detail": "unknown type"}
                )
            )
            return
        message = {
            "id": next(_ids),
            "conversation": frame.get("conversation"),
            "sender": {"id": self.user_id},
            "body": frame.get("body"),
            "client_id": frame.get("client_id"),
            "created_at": datetime.now(UTC).isoformat(),
        }
        push = {"type": "relay.message", "message": message}
        await self.channel_layer.group_send(f"user.{int(frame['to'])}", push)
        await self.channel_layer.group_send(self.group, push)
        await self.send(text_data=json.dumps({"type": "ack", "ref": frame.get("ref"), "data": message}))

    async def relay_message(self, event):
        await self.send(text_data=json.dumps({"type": "event", "event": "message.new", "data": event["message"]}))

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self):
        # Registers the socket actions with the gateway (the import does it) and the
        # people who hear a user's presence.
        from chat import frames
        from realtime import registry

        registry.register_peers(frames.conversation_peers)

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self):
        # Registers the socket actions with the gateway (the import does it), the people
        # who hear a user's presence, and how a logged message event is read back.
        from chat import frames, selectors
        from realtime import registry

        registry.register_peers(frames.conversation_peers)
        registry.register_event_resolver("message.new", selectors.message_event_data)
        registry.register_event_resolver("message.update", selectors.message_event_data)

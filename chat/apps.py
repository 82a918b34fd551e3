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

        # A person's export and the deletion of their account reach chat's rows through
        # accounts' signals (accounts does not import chat).
        from accounts.signals import user_deleting, user_export
        from chat.personal_data import export_chat, forget_chat

        user_export.connect(export_chat, dispatch_uid="chat.export")
        user_deleting.connect(forget_chat, dispatch_uid="chat.forget")

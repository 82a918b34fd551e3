from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        # Imported here, not at the top: models load only once the app registry is ready.
        from accounts.serializers import user_brief
        from realtime import registry

        registry.register_user_brief(user_brief)

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares and no app owns. An app only for its management commands
    (dumpdata, rotate_encryption_keys): it has no models."""

    name = "core"

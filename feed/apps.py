from django.apps import AppConfig


class FeedConfig(AppConfig):
    name = "feed"

    def ready(self):
        # accounts sits below feed and does not import it: a person's export and the
        # deletion of their account reach feed's rows through its signals.
        from accounts.signals import user_deleting, user_export
        from feed.personal_data import export_feed, forget_feed

        user_export.connect(export_feed, dispatch_uid="feed.export")
        user_deleting.connect(forget_feed, dispatch_uid="feed.forget")

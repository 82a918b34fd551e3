from django.apps import AppConfig
from django.utils import timezone


class FeedConfig(AppConfig):
    name = "feed"

    def ready(self):
        # Imported here, not at the top: models load only once the app registry is ready, and
        # accounts sits below feed and does not import it: a person's export and the deletion
        # of their account reach feed's rows through its signals.
        from accounts.signals import user_deleting, user_export
        from core.maintenance import prune_register
        from feed.models import Story
        from feed.personal_data import export_feed, forget_feed
        from feed.story_services import stories_prune

        user_export.connect(export_feed, dispatch_uid="feed.export")
        user_deleting.connect(forget_feed, dispatch_uid="feed.forget")
        # db_maintenance prunes expired stories after the database steps.
        prune_register(
            name="expired stories",
            due=lambda: Story.objects.filter(expires_at__lte=timezone.now()).count(),
            run=stories_prune,
        )

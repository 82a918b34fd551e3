from django.apps import AppConfig
from django.utils import timezone


class FeedConfig(AppConfig):
    name = "feed"

    def ready(self):
        # Imported here, not at the top: models load only once the app registry is ready.
        from core.maintenance import prune_register
        from feed.models import Story
        from feed.story_services import stories_prune

        # db_maintenance prunes expired stories after the database steps.
        prune_register(
            name="expired stories",
            due=lambda: Story.objects.filter(expires_at__lte=timezone.now()).count(),
            run=stories_prune,
        )

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self):
        # accounts sits below notifications and does not import it: it announces follows
        # and this app turns them into notifications (in the follow's transaction).
        from accounts.signals import follow_created, follow_requested, user_export
        from notifications.personal_data import export_notifications
        from notifications.services import notify_follow, notify_follow_request

        follow_created.connect(notify_follow, dispatch_uid="notifications.notify_follow")
        follow_requested.connect(notify_follow_request, dispatch_uid="notifications.notify_follow_request")
        user_export.connect(export_notifications, dispatch_uid="notifications.export")

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "portal.notifications"
    label = "notifications"
    verbose_name = "Оповещения"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from portal.integrated.models import ChatMessage, IntegratedCall
        from portal.notifications import integrated

        post_save.connect(
            integrated.on_call_saved, sender=IntegratedCall, dispatch_uid="notify.integrated_call"
        )
        post_save.connect(
            integrated.on_message_saved, sender=ChatMessage, dispatch_uid="notify.integrated_msg"
        )

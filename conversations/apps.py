from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from conversations.live.access import on_sign_out

        # Django's logout() is the one place every browser sign-out goes through (the
        # sign-out page, POST /auth/logout, the admin's): the streams it opened end.
        user_logged_out.connect(on_sign_out, dispatch_uid="conversations.live.on_sign_out")

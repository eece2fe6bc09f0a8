from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "chatapp.accounts"
    label = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The models import no service (services import the models): the user manager gets
        # the service that makes users here, once every app is loaded.
        from chatapp.accounts.models import UserManager
        from chatapp.accounts.services import user_create

        UserManager.user_create = staticmethod(user_create)

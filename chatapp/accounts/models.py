"""People and their API tokens."""

import uuid
from collections.abc import Callable

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.functions import Lower


class UserManager(DjangoUserManager):
    """Every way Django makes a user (createsuperuser, tests, the admin's helpers) goes
    through the `user_create` service, so that no user is ever without a personal workspace.

    The models import no service: AccountsConfig.ready() hands the service to this manager
    once every app is loaded."""

    user_create: Callable[..., "User"] | None = None

    def _create_user(self, username, email, password, **extra_fields):
        if self.user_create is None:
            raise ImproperlyConfigured("Users are made once the accounts app is ready.")
        return self.user_create(
            username=username, email=email or "", password=password, **extra_fields
        )


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    display_name = models.CharField(max_length=150, blank=True)
    default_workspace = models.ForeignKey(
        "conversations.Workspace",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # The UI's language, one of settings.LANGUAGES; empty: like the browser (Accept-Language).
    # No choices here: the list is the settings', and a migration per language added would
    # say nothing (chatapp/i18n.py ignores a code that is no longer offered). The database
    # default too, so that a migration's historical User (which has no such field) still
    # inserts.
    language = models.CharField(max_length=15, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["username"]
        # Suspension revokes sessions and tokens (docs/moderation.md): a right of its own,
        # apart from change_user, which would also reach passwords and permissions.
        permissions = [("suspend_user", "Can suspend and unsuspend users")]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="user_email_unique_ci",
                condition=~models.Q(email=""),
                violation_error_message="A user with this email already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def name(self) -> str:
        """What other people see: the display name, else the username."""
        return self.display_name or self.username


class TokenKind(models.TextChoices):
    ACCESS = "access", "Access"
    REFRESH = "refresh", "Refresh"
    PERSONAL = "personal", "Personal"


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 hash is stored, with a short prefix to recognise it."""

    Kind = TokenKind

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=10, choices=TokenKind.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    # Refresh tokens issued by rotation share a family; reuse of a dead one revokes it all.
    family = models.UUIDField(null=True, blank=True, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "kind", "-created_at"], name="apitoken_user_kind"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=TokenKind.values),
                name="apitoken_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} token {self.prefix}… of {self.user_id}"


class SingleSignOnIdentity(models.Model):
    """A person's account at the OpenID provider (its issuer and subject), linked to one user
    here. Made at their first single sign-on, when a verified email found or made the user
    (chatapp/accounts/sso.py); after that the subject alone says who signs in."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sso_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    # The verified address the provider gave at the last sign-in.
    email = models.EmailField(max_length=254, blank=True)
    # {workspace id: role} that the group mapping (OIDC_GROUP_ROLES) gave at the last sign-in:
    # a role it gave and no longer gives goes back to member.
    granted_roles = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="ssoidentity_issuer_subject_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"

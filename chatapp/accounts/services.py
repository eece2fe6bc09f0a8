"""Writes to users."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from chatapp.accounts.models import User
from conversations.exceptions import InvalidInput
from conversations.services.workspaces import workspace_create_personal


@transaction.atomic
def user_create(
    *,
    username: str,
    email: str = "",
    password: str | None = None,
    display_name: str = "",
    validate: bool = False,
    **extra_fields,
) -> User:
    """A new user with their personal workspace and owner membership.

    `validate=True` applies the password validators and the email uniqueness check (for
    self-registration); Django's own commands and tests create users without them.
    """
    username = User.normalize_username(username or "")
    if not username:
        raise InvalidInput("username", "A username is required.")
    email = User.objects.normalize_email(email or "")
    if User.objects.filter(username=username).exists():
        raise InvalidInput("username", "This username is taken.")
    if email and User.objects.filter(email__iexact=email).exists():
        raise InvalidInput("email", "A user with this email already exists.")
    user = User(username=username, email=email, display_name=display_name, **extra_fields)
    if validate and password is not None:
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise InvalidInput("password", " ".join(error.messages)) from None
    user.set_password(password)
    user.save()
    workspace_create_personal(user=user)
    return user

"""Single sign-on: who the person the OpenID provider vouches for is here.

`sso_sign_in` takes the claims of a sign-in that chatapp.accounts.oidc has already checked
(signature, issuer, audience, nonce, the userinfo's subject) and decides, in one
transaction (docs/security.md, "Single sign-on"):

- An identity seen before (issuer and subject) is its user.
- Otherwise the email must be verified by the provider (`email_verified` true): only then
  does it find the account with that address, or make a new one (through `user_create`, so
  the new person gets their workspaces like anyone else). An unverified address never
  reaches an existing account.
- Every sign-in needs a verified email at an allowed domain (OIDC_ALLOWED_EMAIL_DOMAINS),
  and an active account.
- The groups claim gives workspace roles (OIDC_GROUP_ROLES), at every sign-in.
"""

import logging
import re
import unicodedata
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from chatapp.accounts.models import SingleSignOnIdentity, User
from chatapp.accounts.services import user_create
from conversations.exceptions import ChatError, SignInRefused
from conversations.models import Membership, Workspace, WorkspaceRole
from conversations.services.audit import audit_event_record
from conversations.services.workspaces import membership_add

logger = logging.getLogger(__name__)

ROLE_RANK = {WorkspaceRole.MEMBER: 0, WorkspaceRole.ADMIN: 1, WorkspaceRole.OWNER: 2}


def claim_is_true(value: Any) -> bool:
    """`email_verified` is a JSON boolean; a few providers send the string "true"."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _provider() -> str:
    return settings.OIDC_PROVIDER_NAME


def _verified_email(claims: dict) -> str:
    email = claims.get(settings.OIDC_EMAIL_CLAIM)
    email = email.strip() if isinstance(email, str) else ""
    if not email or "@" not in email:
        raise SignInRefused(
            gettext("%(provider)s did not give an email address, which signing in needs.")
            % {"provider": _provider()}
        )
    if not claim_is_true(claims.get("email_verified")):
        raise SignInRefused(
            gettext(
                "%(provider)s has not verified your email address %(email)s. Verify it there, "
                "then sign in again."
            )
            % {"provider": _provider(), "email": email}
        )
    domain = email.rpartition("@")[2].lower()
    allowed = settings.OIDC_ALLOWED_EMAIL_DOMAINS
    if allowed and domain not in allowed:
        raise SignInRefused(
            gettext("Accounts with an email address at %(domain)s cannot sign in here.")
            % {"domain": domain}
        )
    return User.objects.normalize_email(email)


def _free_username(claims: dict, email: str) -> str:
    """A username for a new account, from the username claim (else the email's local part),
    made to fit the rules (3 to 50 letters, digits or underscores) and not yet taken. It
    names the person; it never links accounts."""
    wanted = claims.get(settings.OIDC_USERNAME_CLAIM)
    if not isinstance(wanted, str) or not wanted.strip():
        wanted = email.partition("@")[0]
    ascii_only = unicodedata.normalize("NFKD", wanted).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9_]+", "_", ascii_only).strip("_")[:50]
    if len(base) < 3:
        base = f"{base}_user".lstrip("_")
    candidate, number = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        number += 1
        suffix = f"_{number}"
        candidate = base[: 50 - len(suffix)] + suffix
    return candidate


def _display_name(claims: dict) -> str:
    name = claims.get(settings.OIDC_DISPLAY_NAME_CLAIM)
    return " ".join(name.split())[:150] if isinstance(name, str) else ""


def _groups(claims: dict) -> set[str]:
    """The groups claim: a list of names (or one name); anything else is no groups."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM)
    if isinstance(value, str):
        return {value}
    if isinstance(value, list | tuple):
        return {str(group) for group in value if isinstance(group, str | int)}
    return set()


def _mapped_workspace(slug: str) -> Workspace | None:
    """The workspace a mapping names: by slug, or (no slug) the server's shared workspace."""
    if slug:
        workspace = Workspace.objects.filter(slug=slug, is_personal=False).first()
    else:
        workspace = Workspace.objects.filter(is_shared=True).first()
    if workspace is None:
        logger.warning(
            "OIDC_GROUP_ROLES names %s, which does not exist; its roles are not given",
            f"the workspace {slug!r}" if slug else "the shared workspace (SHARED_WORKSPACE)",
        )
    return workspace


def _set_role(*, workspace: Workspace, user: User, role: str) -> tuple[str | None, str]:
    """Give `user` the role in the workspace (joining it if need be); the last owner of a
    workspace is never demoted by a sign-in. Returns (role before, role after)."""
    membership = Membership.objects.filter(workspace=workspace, user=user).first()
    before = membership.role if membership else None
    if before == role:
        return before, role
    if (
        before == WorkspaceRole.OWNER
        and not Membership.objects.filter(workspace=workspace, role=WorkspaceRole.OWNER)
        .exclude(user=user)
        .exists()
    ):
        logger.warning("%s stays owner of %s: it has no other owner", user, workspace.slug)
        return before, before
    membership_add(workspace=workspace, user=user, role=role)
    return before, role


def _sync_roles(*, user: User, identity: SingleSignOnIdentity, groups: set[str]) -> list[dict]:
    """Roles from groups, in every workspace the mapping names. The mapping gives the highest
    role among the person's mapped groups (joining them to the workspace if need be), and
    takes back only what it gave: a role it gave at an earlier sign-in comes down to what it
    gives now (member when it gives nothing), while a higher role given here in chatapp
    stays."""
    wanted: dict[str, str | None] = {}
    for group, slug, role in settings.OIDC_GROUP_ROLES:
        current = wanted.get(slug)
        if group in groups and (current is None or ROLE_RANK[role] > ROLE_RANK[current]):
            wanted[slug] = role
        else:
            wanted.setdefault(slug, None)
    granted = dict(identity.granted_roles or {})
    changes = []
    for slug, role in wanted.items():
        workspace = _mapped_workspace(slug)
        if workspace is None:
            continue
        key = str(workspace.pk)
        given_before = granted.pop(key, None)
        membership = Membership.objects.filter(workspace=workspace, user=user).first()
        current = membership.role if membership else None
        if role is not None:
            granted[key] = role
        target = role or WorkspaceRole.MEMBER
        if current is None:
            if role is None:
                continue  # not a member, and no group makes them one
        elif ROLE_RANK[target] == ROLE_RANK[current]:
            continue
        elif ROLE_RANK[target] < ROLE_RANK[current] and current != given_before:
            continue  # a higher role given in chatapp, not by the mapping
        try:
            before, after = _set_role(workspace=workspace, user=user, role=target)
        except ChatError as error:  # e.g. a mapping that names someone's personal workspace
            logger.warning("OIDC_GROUP_ROLES: no role in %s: %s", workspace.slug, error.message)
            granted.pop(key, None)
            continue
        if before != after:
            changes.append({"workspace": workspace.slug, "from": before, "to": after})
    identity.granted_roles = granted
    return changes


def _link_or_create(*, issuer: str, subject: str, email: str, claims: dict) -> tuple:
    """The identity for a first sign-in: linked to the account with this (verified) email,
    or to a new account. Returns (identity, created_user)."""
    user = User.objects.filter(email__iexact=email).first()
    created = user is None
    if created:
        if not settings.OIDC_CREATE_USERS:
            raise SignInRefused(
                gettext("There is no account for %(email)s here. Ask an administrator to make one.")
                % {"email": email}
            )
        user = user_create(
            username=_free_username(claims, email),
            email=email,
            password=None,  # unusable: this person signs in through the provider
            display_name=_display_name(claims),
        )
    identity = SingleSignOnIdentity.objects.create(
        user=user, issuer=issuer, subject=subject, email=email
    )
    audit_event_record(
        actor=user,
        action="user.sso_linked",
        target_type="user",
        target_id=user.pk,
        data={"issuer": issuer, "subject": subject, "email": email, "created": created},
    )
    return identity, created


def _follow_email_change(identity: SingleSignOnIdentity, email: str) -> None:
    """The provider now gives another verified address: the account takes it, unless
    another account has it (then it keeps its own)."""
    user = identity.user
    if user.email.lower() == email.lower():
        return
    if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
        logger.warning("%s keeps %s: %s belongs to another account", user, user.email, email)
        return
    audit_event_record(
        actor=user,
        action="user.sso_email_changed",
        target_type="user",
        target_id=user.pk,
        data={"from": user.email, "to": email},
    )
    user.email = email
    user.save(update_fields=["email", "updated_at"])


@transaction.atomic
def sso_sign_in(*, issuer: str, claims: dict) -> User:
    """The user for a checked single sign-on, made or linked if need be, with the roles
    its groups give. Raises SignInRefused, saying why, for anyone who may not sign in."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise SignInRefused(
            gettext("%(provider)s did not say who you are (no subject).")
            % {"provider": _provider()}
        )
    email = _verified_email(claims)
    identity = (
        SingleSignOnIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    try:
        with transaction.atomic():
            if identity is None:
                identity, _ = _link_or_create(
                    issuer=issuer, subject=subject, email=email, claims=claims
                )
            else:
                _follow_email_change(identity, email)
    except (IntegrityError, ChatError) as error:
        if isinstance(error, SignInRefused):
            raise
        # Two first sign-ins of one person at the same moment: the other one linked it.
        logger.warning("single sign-on of %s at %s did not complete: %s", subject, issuer, error)
        raise SignInRefused(gettext("Signing in did not complete. Try again.")) from None
    user = identity.user
    if not user.is_active:
        raise SignInRefused(gettext("This account is suspended."))
    changes = _sync_roles(user=user, identity=identity, groups=_groups(claims))
    if changes:
        audit_event_record(
            actor=None,
            action="sso.roles_synced",
            target_type="user",
            target_id=user.pk,
            reason="OIDC_GROUP_ROLES",
            data={"changes": changes},
        )
    identity.email = email
    identity.last_sign_in_at = timezone.now()
    identity.save(update_fields=["email", "granted_roles", "last_sign_in_at"])
    return user

"""The shared workspace for an existing install (docs/data-model.md, "Workspaces"): with
SHARED_WORKSPACE on, the workspace named SITE_NAME is made, if there are users and it is not
there yet, and every user who is not in it joins as a member. Its owner is the earliest
superuser (else the earliest user) unless it has one already. Running it again adds only
who is missing; with SHARED_WORKSPACE off it does nothing.

A fresh install has no users when it migrates: its shared workspace is made with its first
user (services.workspaces.workspace_join_shared, as for every user after)."""

from django.conf import settings
from django.db import migrations
from django.utils.crypto import get_random_string
from django.utils.text import slugify

BATCH = 1000


def unique_slug(Workspace, name: str) -> str:
    """services.workspaces._unique_slug as it is when this migration was written."""
    base = slugify(name)[:48] or "workspace"
    slug = base
    while Workspace.objects.filter(slug=slug).exists():
        slug = f"{base}-{get_random_string(6, 'abcdefghijklmnopqrstuvwxyz0123456789')}"
    return slug


def add_shared_workspace(apps, schema_editor):
    if not settings.SHARED_WORKSPACE:
        return
    User = apps.get_model(settings.AUTH_USER_MODEL)
    Workspace = apps.get_model("conversations", "Workspace")
    Membership = apps.get_model("conversations", "Membership")
    users = User.objects.order_by("date_joined", "id")
    first = users.filter(is_superuser=True).first() or users.first()
    if first is None:
        return
    workspace = Workspace.objects.filter(is_shared=True).first()
    if workspace is None:
        name = " ".join(settings.SITE_NAME.split())[:100] or "chatapp"
        workspace = Workspace.objects.create(
            name=name, slug=unique_slug(Workspace, name), is_shared=True
        )
    if not Membership.objects.filter(workspace=workspace, role="owner").exists():
        Membership.objects.update_or_create(
            workspace=workspace, user=first, defaults={"role": "owner"}
        )
    members = set(Membership.objects.filter(workspace=workspace).values_list("user_id", flat=True))
    missing = [pk for pk in users.values_list("pk", flat=True) if pk not in members]
    for start in range(0, len(missing), BATCH):
        Membership.objects.bulk_create(
            [
                Membership(workspace=workspace, user_id=pk, role="member")
                for pk in missing[start : start + BATCH]
            ],
            ignore_conflicts=True,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0013_workspace_shared_invitation"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Going back leaves the workspace and its members: they are people's data now.
        migrations.RunPython(add_shared_workspace, migrations.RunPython.noop),
    ]

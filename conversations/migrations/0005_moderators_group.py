"""The Moderators group with exactly the permissions moderation needs (docs/moderation.md).

Permissions are normally made after all migrations have run (post_migrate); on a fresh
database they do not exist yet when this runs, so they are made here first.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP_NAME = "Moderators"

# (app label, codename). Nothing for agents (endpoints, key variables), tokens, events,
# nothing to add or delete, no change_user (passwords, permissions) and no change_message:
# messages change only by hiding.
MODERATOR_PERMISSIONS = [
    ("conversations", "view_conversation"),
    ("conversations", "change_conversation"),  # soft-delete and restore
    ("conversations", "view_message"),
    ("conversations", "hide_message"),
    ("conversations", "view_messagepart"),
    ("conversations", "view_artifact"),
    ("conversations", "view_participant"),
    ("conversations", "view_report"),
    ("conversations", "change_report"),  # resolve and dismiss
    ("conversations", "view_auditevent"),
    ("conversations", "view_workspace"),
    ("conversations", "view_membership"),
    ("accounts", "view_user"),
    ("accounts", "suspend_user"),
]


def create_moderators_group(apps, schema_editor):
    for label in ("conversations", "accounts"):
        app_config = apps.get_app_config(label)
        # create_permissions skips apps without a models module, as historical apps are.
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(schema_editor.connection.alias).get_or_create(name=GROUP_NAME)
    permissions = []
    for app_label, codename in MODERATOR_PERMISSIONS:
        permissions.append(
            Permission.objects.using(schema_editor.connection.alias).get(
                content_type__app_label=app_label, codename=codename
            )
        )
    group.permissions.set(permissions)


def delete_moderators_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name=GROUP_NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("conversations", "0004_message_hide_permission"),
        ("accounts", "0003_user_suspend_permission"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_moderators_group, delete_moderators_group),
    ]

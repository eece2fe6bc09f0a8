"""Storage quotas: how many bytes of stored files (artifacts) a person may hold, and how
many one import may write. Checked before anything is written, so that a refusal (413)
stores nothing. docs/security.md gives the rule and the settings."""

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Sum

from conversations.exceptions import TooLarge
from conversations.models import Artifact

MB = 1024 * 1024


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB"


def storage_used(user: AbstractBaseUser) -> int:
    """Bytes of the stored files counted against `user` (artifacts with a file)."""
    used = Artifact.objects.filter(owner=user).exclude(file="").aggregate(total=Sum("size"))
    return used["total"] or 0


def storage_check(user: AbstractBaseUser, incoming: int) -> None:
    """TooLarge if `incoming` more bytes would take `user` past STORAGE_QUOTA_BYTES."""
    if incoming <= 0:
        return
    quota = settings.STORAGE_QUOTA_BYTES
    used = storage_used(user)
    if used + incoming > quota:
        raise TooLarge(
            f"This needs {_megabytes(incoming)} of storage and you have "
            f"{_megabytes(max(quota - used, 0))} of your {_megabytes(quota)} left; "
            "nothing was stored.",
            details={"quota": quota, "used": used, "needed": incoming},
        )


def import_files_budget(upload_size: int) -> int:
    """The most bytes of files one import may write: IMPORT_MAX_WRITTEN_BYTES, and never
    more than IMPORT_MAX_EXPANSION times the size of the upload (a small ZIP of zeros must
    not fill the disk)."""
    return min(settings.IMPORT_MAX_WRITTEN_BYTES, settings.IMPORT_MAX_EXPANSION * upload_size)


def import_files_check(upload_size: int, incoming: int) -> None:
    budget = import_files_budget(upload_size)
    if incoming > budget:
        raise TooLarge(
            f"This import would write {_megabytes(incoming)} of files; an import of a "
            f"{_megabytes(upload_size)} file writes at most {_megabytes(budget)}. "
            "Nothing was imported.",
            details={"budget": budget, "needed": incoming},
        )

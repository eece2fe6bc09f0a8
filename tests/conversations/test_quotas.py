"""Storage quotas (docs/security.md): an import writes at most its budget of files (a small
ZIP of zeros must not fill the disk), nobody holds more than STORAGE_QUOTA_BYTES of stored
files, and a refusal is a 413 that stores nothing."""

import pytest
from django.test import Client

from conversations import services
from conversations.exceptions import TooLarge
from conversations.models import Artifact, Conversation, MessagePart
from conversations.services.quotas import storage_used
from tests.conversations.transfer_helpers import fixture_bytes, make_zip, upload

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n"


def zip_with_image(image: bytes) -> bytes:
    return make_zip(
        {"conversations.json": fixture_bytes("multimodal.json"), "file-abc123.png": image}
    )


def stored_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


@pytest.fixture
def api(alice):
    client = Client()
    client.force_login(alice)
    return client


def test_a_small_zip_of_zeros_writes_nothing(alice, api, settings):
    bomb = zip_with_image(PNG + bytes(16 * 1024 * 1024))  # 16 MB of zeros
    assert len(bomb) < 100 * 1024
    response = upload(api, bomb, name="export.zip")
    assert response.status_code == 413, response.content
    error = response.json()["error"]
    assert error["code"] == "too_large" and "Nothing was imported" in error["message"]
    assert not Conversation.objects.exists() and not Artifact.objects.exists()
    assert stored_files(settings) == []


def test_the_import_budget_has_a_ceiling_of_its_own(alice, api, settings):
    settings.IMPORT_MAX_EXPANSION = 1000
    settings.IMPORT_MAX_WRITTEN_BYTES = 1024
    response = upload(api, zip_with_image(PNG + bytes(2048)), name="export.zip")
    assert response.status_code == 413
    assert not Conversation.objects.exists()


def test_an_import_within_its_budget_stores_its_files(alice, api, settings):
    response = upload(api, zip_with_image(PNG + bytes(range(256)) * 4), name="export.zip")
    assert response.status_code == 201, response.content
    assert storage_used(alice) == len(PNG) + 1024
    assert len(stored_files(settings)) == 1


def test_an_import_over_the_storage_quota_stores_nothing(alice, api, settings):
    image = PNG + bytes(range(256)) * 4
    settings.STORAGE_QUOTA_BYTES = len(image) * 2 - 1
    assert upload(api, zip_with_image(image), name="a.zip").status_code == 201
    # The same image again, in another conversation: one copy more than the quota allows.
    Conversation.objects.update(subject_id="moved")  # so that the file's conversation is new
    response = upload(api, zip_with_image(image), name="b.zip")
    assert response.status_code == 413, response.content
    message = response.json()["error"]["message"]
    assert "storage" in message and "nothing was stored" in message
    assert Conversation.objects.count() == 1 and Artifact.objects.exclude(file="").count() == 1
    assert len(stored_files(settings)) == 1


def test_a_reimport_is_not_counted_against_the_quota(alice, api, settings):
    image = PNG + bytes(range(256))
    settings.STORAGE_QUOTA_BYTES = len(image)
    data = zip_with_image(image)
    assert upload(api, data, name="a.zip").status_code == 201
    assert upload(api, data, name="a.zip").status_code == 200  # writes nothing: not refused


def test_assistant_artifacts_count_against_their_owner(alice, bob, group, post, settings):
    settings.STORAGE_QUOTA_BYTES = 100
    message = post(group, "make files", sender=alice)
    first = MessagePart.objects.create(message=message, index=0, type="file")
    second = MessagePart.objects.create(message=message, index=1, type="file")
    services.artifact_create(part=first, kind="file", data=b"x" * 60, path="a.txt", owner=bob)
    with pytest.raises(TooLarge):
        services.artifact_create(part=second, kind="file", data=b"y" * 41, path="b.txt", owner=bob)
    assert not Artifact.objects.filter(part=second).exists()
    assert storage_used(bob) == 60 and storage_used(alice) == 0

"""conversation_import and the file reading beneath it: memory on a big file, limits checked
before reading, the ZIP forms, our format's edge cases, and concurrent imports."""

import contextlib
import hashlib
import io
import json
import random
import threading
import tracemalloc
import uuid
import zipfile

import pytest
from django.db import connection

from conversations import services
from conversations.exceptions import BadRequest, ChatError, NotFound, TooLarge
from conversations.models import (
    Artifact,
    ArtifactKind,
    Conversation,
    Message,
    MessagePart,
    Participant,
    PartType,
)
from conversations.transfer.sources import CappedReader, ImportLimits
from conversations.transfer.uploads import UploadSizeLimitHandler, UploadTooLarge

from .transfer_helpers import chatgpt_zip, fixture_bytes, fixture_json, make_zip

pytestmark = pytest.mark.django_db


def import_bytes(user, data: bytes, **kwargs):
    return services.conversation_import(user=user, file=io.BytesIO(data), **kwargs)


def write_big_chatgpt_export(path, *, conversations: int, messages: int, text_size: int) -> int:
    """A conversations.json of about conversations x messages x text_size bytes, written
    one conversation at a time."""
    filler = "lorem ipsum " * (text_size // 12)
    with open(path, "w") as out:
        out.write("[")
        for number in range(conversations):
            mapping = {"root": {"message": None, "parent": None}}
            parent = "root"
            for index in range(messages):
                mapping[f"n{index}"] = {
                    "parent": parent,
                    "message": {
                        "author": {"role": "user" if index % 2 == 0 else "assistant"},
                        "create_time": 1_700_000_000 + number * 100 + index,
                        "content": {"content_type": "text", "parts": [f"{index} {filler}"]},
                    },
                }
                parent = f"n{index}"
            conversation = {"id": f"big-{number}", "title": f"Big {number}", "mapping": mapping}
            conversation["current_node"] = parent
            out.write(("," if number else "") + json.dumps(conversation))
        out.write("]")
    return path.stat().st_size


def test_a_large_export_imports_without_holding_it_in_memory(alice, tmp_path):
    path = tmp_path / "conversations.json"
    size = write_big_chatgpt_export(path, conversations=100, messages=10, text_size=20_000)
    assert size > 20_000_000
    tracemalloc.start()
    try:
        with open(path, "rb") as file:
            result = services.conversation_import(user=alice, file=file)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result.imported) == 100
    assert Message.objects.count() == 1000
    # One conversation at a time (~200 kB here), never the file (let alone twice).
    assert peak < size / 10, f"peak {peak:,} bytes for a {size:,}-byte file"


def test_a_file_over_the_limit_is_refused_before_it_is_read(alice):
    limits = ImportLimits(max_bytes=100, max_uncompressed_bytes=10_000, max_zip_members=10)
    with pytest.raises(TooLarge):
        import_bytes(alice, fixture_bytes("branched.json"), limits=limits)
    assert Conversation.objects.count() == 0


def test_import_into_a_workspace_one_is_not_in_is_not_found(alice, bob, team):
    with pytest.raises(NotFound):
        import_bytes(alice, fixture_bytes("branched.json"), workspace=bob.default_workspace)
    result = import_bytes(alice, fixture_bytes("branched.json"), workspace=team)
    assert Conversation.objects.get(pk=result.imported[0]).workspace == team


def test_the_same_conversation_twice_in_one_zip_is_imported_once(alice):
    data = make_zip(
        {
            "conversations.json": fixture_bytes("branched.json"),
            # The per-conversation form some exports carry beside it.
            "conversations/branched.json": json.dumps(fixture_json("branched.json")[0]).encode(),
            "__MACOSX/._conversations.json": b"\x00\x05\x16\x07",
        }
    )
    result = import_bytes(alice, data)
    assert (len(result.imported), result.skipped) == (1, [])
    assert Conversation.objects.count() == 1


def test_a_byte_order_mark_is_skipped(alice):
    result = import_bytes(alice, b"\xef\xbb\xbf" + fixture_bytes("branched.json"))
    assert len(result.imported) == 1


def export_document(messages: list[dict], **conversation) -> bytes:
    return json.dumps(
        {
            "format": "chatapp",
            "version": 1,
            "conversation": {
                "id": str(uuid.uuid4()),
                "kind": "assistant",
                "title": "",
                "created_at": "2025-01-01T10:00:00Z",
                **conversation,
            },
            "messages": messages,
        }
    ).encode()


def message(seq: int, **fields) -> dict:
    return {"seq": seq, "role": "user", "created_at": "2025-01-01T10:00:00", **fields}


def test_a_direct_conversation_comes_without_the_other_person_and_blocks_nothing(alice, bob, team):
    first = import_bytes(
        alice, export_document([message(1, content="hi")], kind="direct"), workspace=team
    )
    second = import_bytes(
        alice, export_document([message(1, content="yo")], kind="direct"), workspace=team
    )
    one, two = Conversation.objects.filter(pk__in=first.imported + second.imported)
    assert one.kind == two.kind == "direct" and one.direct_key != two.direct_key
    people = Participant.objects.filter(conversation=one).values_list("user", flat=True)
    assert list(people) == [alice.pk]
    # A real direct conversation with bob is still made, and the import takes posts.
    real, created = services.conversation_create(
        creator=alice, kind="direct", workspace=team, participants=[bob]
    )
    assert created and real.pk not in (one.pk, two.pk)
    services.message_post(conversation=one, sender=alice, content="still here")
    one.refresh_from_db()
    assert one.message_count == 2


def test_our_format_edge_cases(alice):
    data = export_document(
        [
            message(3, content="a time without an offset is UTC"),
            message(
                7,
                role="assistant",
                status="streaming",
                content="cut off",
                reply_to_seq=3,
                prompt_tokens=10,
            ),
            message(8, content="gone", is_deleted=True, parts=[{"type": "text"}]),
        ],
        status="completed",
        agent={"slug": "nobody-here", "name": "Ghost", "model": "m"},
        subject_type="task",
        subject_id="T-1",
    )
    conversation = Conversation.objects.get(pk=import_bytes(alice, data).imported[0])
    first, turn, gone = conversation.messages.order_by("seq")
    # Seqs are renumbered without gaps; replies follow them.
    assert [first.seq, turn.seq, gone.seq] == [1, 2, 3] and turn.reply_to == first
    assert first.created_at.utcoffset().total_seconds() == 0
    # A turn still streaming when exported can never finish here.
    assert (turn.status, turn.error_type) == ("error", "interrupted")
    assert (gone.content, gone.parts.count(), gone.deleted_at is not None) == ("", 0, True)
    assert conversation.status == "completed" and conversation.agent is None
    assert conversation.title == "a time without an offset is UTC"
    assert conversation.total_input_tokens == 10 and conversation.message_count == 3
    assert conversation.metadata["import"]["subject"] == {"type": "task", "id": "T-1"}
    assert conversation.metadata["import"]["agent"]["name"] == "Ghost"
    assert (conversation.subject_type, conversation.subject_id) == (
        "import:chatapp",
        conversation.metadata["import"]["source_id"],
    )


def test_capped_reader_stops_at_its_limit():
    reader = CappedReader(io.BytesIO(b"x" * 100), limit=50, name="member.json")
    assert reader.read(40) == b"x" * 40
    with pytest.raises(TooLarge):
        reader.read(40)
    prefixed = CappedReader(io.BytesIO(b"cd"), limit=10, name="m", prefix=b"ab")
    assert (prefixed.read(0), prefixed.read(1), prefixed.read(5), prefixed.read(5)) == (
        b"",
        b"a",
        b"b",
        b"cd",
    )


def test_upload_handler_refuses_by_content_length_and_by_bytes(settings):
    settings.IMPORT_MAX_BYTES = 1000
    handler = UploadSizeLimitHandler()
    with pytest.raises(UploadTooLarge):
        handler.handle_raw_input(None, {}, 1000 + 64 * 1024 + 1, b"boundary")
    assert handler.handle_raw_input(None, {}, 2000, b"boundary") is None
    handler.new_file("file", "x.json", "application/json", 2000)
    assert handler.receive_data_chunk(b"x" * 600, 0) == b"x" * 600
    with pytest.raises(UploadTooLarge):
        handler.receive_data_chunk(b"x" * 600, 600)


def test_not_a_zip_despite_its_signature(alice):
    with pytest.raises(BadRequest):
        import_bytes(alice, b"PK\x05\x06" + b"\x00" * 10)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_same_file_imported_twice_at_once_creates_one_conversation(make_user):
    alice = make_user("alice")
    data = _two_conversations()
    results, errors = [], []
    barrier = threading.Barrier(4)

    def run():
        try:
            barrier.wait()
            results.append(import_bytes(alice, data))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Conversation.objects.count() == 2
    assert sum(len(result.imported) for result in results) == 2
    ids = {pk for result in results for pk in result.imported + result.skipped}
    assert ids == set(Conversation.objects.values_list("pk", flat=True))


def _two_conversations() -> bytes:
    return json.dumps(fixture_json("branched.json") + fixture_json("tools.json")).encode()


def _mutated_json(document, rng: random.Random):
    """The document with a few values swapped for values of other types, or keys removed."""
    document = json.loads(json.dumps(document))
    values = [None, 5, -1, 2**40, 1e300, 0.5, True, "x", "", "\u0000", [], {}, [1], "user"]
    for _ in range(rng.randint(1, 3)):
        paths, stack = [], [((), document)]
        while stack:
            path, value = stack.pop()
            if path:
                paths.append(path)
            if isinstance(value, dict | list):
                items = value.items() if isinstance(value, dict) else enumerate(value)
                stack += [((*path, key), item) for key, item in items]
        path = rng.choice(paths)
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and rng.random() < 0.2:
            del parent[path[-1]]
        else:
            parent[path[-1]] = json.loads(json.dumps(rng.choice(values)))
    return json.dumps(document).encode()


def _mutated_bytes(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        index = rng.randrange(len(data))
        if rng.random() < 0.6:
            data[index] = rng.randrange(256)
        else:
            del data[index : index + rng.randint(1, 16)]
    return bytes(data)


def test_damaged_files_never_fail_with_anything_but_a_domain_error(alice):
    """A few hundred files with values of the wrong type, missing keys, flipped or cut
    bytes: each imports or raises a domain error (4xx), never anything else (500)."""
    rng = random.Random(20250101)
    documents = [fixture_json(name) for name in ("branched.json", "tools.json", "sparse.json")]
    documents.append(json.loads(export_document([message(1, content="hi", parts=[])])))
    archives = [chatgpt_zip(), make_zip({"conversations.json": fixture_bytes("multimodal.json")})]
    for _ in range(300):
        if rng.random() < 0.6:
            data = _mutated_json(rng.choice(documents), rng)
        else:
            data = _mutated_bytes(rng.choice(archives), rng)
        with contextlib.suppress(ChatError):
            import_bytes(alice, data)


# --- the images and files of a ChatGPT ZIP ------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(24)


def image_parts(conversation: Conversation):
    return list(
        MessagePart.objects.filter(message__conversation=conversation, type=PartType.IMAGE)
        .select_related("artifact")
        .order_by("message__seq", "index")
    )


def multimodal_zip(**members: bytes) -> bytes:
    """multimodal.json (a user's upload `file-abc123`, a DALL·E picture `file-dalle1`) with
    the given other members."""
    return make_zip({"conversations.json": fixture_bytes("multimodal.json"), **members})


def test_the_images_a_zip_holds_are_stored_with_their_messages(alice):
    result = import_bytes(
        alice,
        multimodal_zip(
            **{
                "file-abc123-holiday photo.png": PNG,
                "dalle-generations/file-dalle1-3f2a.webp": WEBP,
                "user.json": b"{}",
            }
        ),
    )
    conversation = Conversation.objects.get(pk=result.imported[0])
    upload, dalle = image_parts(conversation)
    assert upload.content["asset_pointer"] == "file-service://file-abc123"  # still said
    assert upload.artifact.kind == ArtifactKind.IMAGE
    assert upload.artifact.path == "file-abc123-holiday photo.png"
    assert upload.artifact.mime == "image/png" and upload.artifact.size == len(PNG)
    assert upload.artifact.sha256 == hashlib.sha256(PNG).hexdigest()
    assert upload.artifact.file.read() == PNG and upload.artifact.is_inline_image
    assert dalle.artifact.mime == "image/webp" and dalle.artifact.file.read() == WEBP


def test_a_reimport_stores_no_image_again(alice):
    data = multimodal_zip(**{"file-abc123.png": PNG})
    import_bytes(alice, data)
    again = import_bytes(alice, data)
    assert again.imported == [] and Artifact.objects.count() == 1


def test_images_the_zip_lacks_or_the_limits_refuse_stay_pointers(alice):
    limits = ImportLimits(
        max_bytes=10_000_000,
        max_uncompressed_bytes=10_000_000,
        max_zip_members=10,
        max_asset_bytes=len(PNG),
    )
    # file-dalle1 is not in the ZIP; file-abc123 is, but bigger than an asset may be.
    data = multimodal_zip(**{"file-abc123.png": PNG + b"more"})
    conversation = Conversation.objects.get(pk=import_bytes(alice, data, limits=limits).imported[0])
    assert len(image_parts(conversation)) == 2
    assert not Artifact.objects.exists()


def test_what_is_not_an_image_is_never_served_as_one(alice):
    data = multimodal_zip(
        **{
            "file-abc123.png": b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
            "file-dalle1.svg": b"<svg/>",
        }
    )
    import_bytes(alice, data)
    mimes = sorted(Artifact.objects.values_list("mime", flat=True))
    assert mimes == ["application/octet-stream", "image/svg+xml"]
    assert not any(artifact.is_inline_image for artifact in Artifact.objects.all())


def test_a_damaged_image_is_left_out_and_the_conversation_imported(alice):
    # Flip a byte of the image's (stored, uncompressed) data: its checksum fails on reading.
    data = bytearray(
        make_zip(
            {"conversations.json": fixture_bytes("multimodal.json"), "file-abc123.png": PNG},
            compression=zipfile.ZIP_STORED,
        )
    )
    start = data.find(PNG)
    data[start + 20] ^= 0xFF
    result = import_bytes(alice, bytes(data))
    assert len(result.imported) == 1
    # What the ZIP said of it is kept; its bytes are not.
    artifact = Artifact.objects.get()
    assert artifact.path == "file-abc123.png" and not artifact.file and not artifact.sha256

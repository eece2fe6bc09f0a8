"""An uploaded import file as the JSON documents in it, read within limits.

A plain JSON file is one document. A ZIP (the form ChatGPT sends) holds its conversations in
`conversations.json` or, in newer exports, `conversations-000.json`, `conversations-001.json`
…, or per-conversation files under a `conversations/` folder. Its images and files (named by
the asset id the messages point at: `file-abc123-photo.png`, `dalle-generations/file-…webp`)
are Assets, decompressed only when their message is written; the rest (user.json, chat.html)
never is.

Nothing here trusts the file: the size of the upload, the number of ZIP members (checked from
the central directory's size before Python's zipfile reads it), the sizes the members
declare, the bytes they actually decompress to, and the nesting depth of the JSON (ijson's
path prefixes grow quadratically with depth) are all checked before or while reading.
"""

import io
import os
import re
import struct
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import ijson
from django.conf import settings

from conversations.exceptions import BadRequest, TooLarge

from .plan import MAX_JSON_DEPTH, invalid

READ_SIZE = 64 * 1024
# Each member of a ZIP has an entry of at least 46 bytes in the central directory, which
# Python's zipfile reads whole into objects of ~1 KiB each. A directory bigger than this many
# bytes per allowed member is refused before zipfile sees it.
CENTRAL_DIRECTORY_BYTES_PER_MEMBER = 1024

CONVERSATION_MEMBER = re.compile(
    r"(?:^|/)(?:conversations(?:-\d+)?\.json|conversations/[^/]+\.json)$", re.IGNORECASE
)
# An image or file a message points at ("file-service://file-abc123", "sediment://file_00…")
# lies in the ZIP under its asset id, often followed by its original name.
ASSET_ID = re.compile(r"file[-_][A-Za-z0-9]+")
ASSET_MEMBER = re.compile(r"(?:^|/)(file[-_][A-Za-z0-9]+)(?:[-.][^/]*)?$")


@dataclass(frozen=True)
class ImportLimits:
    max_bytes: int
    max_uncompressed_bytes: int
    max_zip_members: int
    max_asset_bytes: int = 50 * 1024 * 1024

    @classmethod
    def from_settings(cls) -> "ImportLimits":
        return cls(
            max_bytes=settings.IMPORT_MAX_BYTES,
            max_uncompressed_bytes=settings.IMPORT_MAX_UNCOMPRESSED_BYTES,
            max_zip_members=settings.IMPORT_MAX_ZIP_MEMBERS,
            max_asset_bytes=settings.IMPORT_MAX_ASSET_BYTES,
        )


class CappedReader(io.RawIOBase):
    """A binary stream that refuses (TooLarge) to give more than `limit` bytes in all, and
    starts with `prefix`: the bytes already read from `stream` to look at its beginning."""

    def __init__(self, stream: BinaryIO, *, limit: int, name: str, prefix: bytes = b""):
        super().__init__()
        self._stream = stream
        self._limit = limit
        self._name = name
        self._prefix = prefix
        self._count = len(prefix)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = READ_SIZE
        if size == 0:
            return b""
        if self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        try:
            data = self._stream.read(size)
        except Exception as error:
            # A damaged archive fails in many ways (zlib, CRC, seeks, lengths): all are the
            # file's fault, none is ours.
            raise _unreadable(self._name, error) from None
        self._count += len(data)
        if self._count > self._limit:
            raise TooLarge(
                f"{self._name} decompresses to more than the {self._limit:,} bytes it may have.",
                details={"field": "file", "limit": self._limit},
            )
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def unread(self, data: bytes) -> None:
        """Give `data` (just read) back, to be read again first."""
        self._prefix = data + self._prefix


@dataclass
class JsonDocument:
    """One JSON text of the upload: the file itself, or a member of the ZIP."""

    name: str
    _open_raw: Callable[[], BinaryIO]
    _limit: int
    # The first character of the JSON text ("[" or "{"), found by `first_character`.
    _first: bytes | None = field(default=None, init=False)
    depth_checked: bool = field(default=False, init=False)

    @contextmanager
    def open(self) -> Iterator[CappedReader]:
        """A fresh stream from the start of the JSON text (a byte order mark skipped)."""
        with read_errors(self.name):
            raw = self._open_raw()
            try:
                stream = CappedReader(raw, limit=self._limit, name=self.name)
                head = stream.read(3)
                if head != b"\xef\xbb\xbf":
                    stream.unread(head)
                yield stream
            finally:
                raw.close()

    def first_character(self) -> bytes:
        if self._first is None:
            with self.open() as stream:
                while chunk := stream.read(READ_SIZE):
                    stripped = chunk.lstrip(b" \t\r\n")
                    if stripped:
                        self._first = stripped[:1]
                        break
                else:
                    self._first = b""
        return self._first

    def check_depth(self) -> None:
        """Read the whole document once with ijson's flat event parser: its JSON syntax, and a
        nesting depth of at most MAX_JSON_DEPTH. Later reads build objects from it safely."""
        if self.depth_checked:
            return
        depth = 0
        with self.open() as stream:
            for event, _ in ijson.basic_parse(stream, use_float=True):
                if event == "start_map" or event == "start_array":
                    depth += 1
                    if depth > MAX_JSON_DEPTH:
                        raise invalid(
                            self.name, f"JSON nested more than {MAX_JSON_DEPTH} levels deep."
                        )
                elif event == "end_map" or event == "end_array":
                    depth -= 1
        self.depth_checked = True


@dataclass
class Asset:
    """An image or file of the ZIP that a message points at, read only when that message is
    written, and never past the size it declares."""

    name: str  # its member name in the ZIP
    size: int
    _open_raw: Callable[[], BinaryIO]

    def read(self) -> bytes:
        """Its bytes; BadRequest when the member is damaged (a bad checksum, a lying size)."""
        raw = self._open_raw()
        try:
            stream = CappedReader(raw, limit=self.size, name=self.name)
            chunks = []
            while chunk := stream.read(READ_SIZE):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            raw.close()


@dataclass
class Upload:
    kind: str  # "json" | "zip"
    documents: list[JsonDocument]
    assets: dict[str, Asset] = field(default_factory=dict)  # by asset id

    def asset_for(self, pointer: Any) -> Asset | None:
        """The asset an `asset_pointer` ("file-service://file-abc123") names, if the ZIP has it."""
        if not isinstance(pointer, str) or "://" not in pointer:
            return None
        asset_id = pointer.split("://", 1)[1]
        return self.assets.get(asset_id) if ASSET_ID.fullmatch(asset_id) else None


@contextmanager
def read_errors(name: str) -> Iterator[None]:
    """Turn broken JSON into a 400 that names the document."""
    try:
        yield
    except ijson.JSONError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "broken"
        raise BadRequest(
            f"{name} is not valid JSON ({first_line}).", details={"field": "file"}
        ) from None


def _unreadable(name: str, error: Exception) -> BadRequest:
    return BadRequest(f"{name} cannot be read ({error}).", details={"field": "file"})


def open_upload(file: BinaryIO, *, name: str, limits: ImportLimits) -> Upload:
    """The documents of an uploaded file (seekable binary), checked against the limits."""
    size = file.seek(0, os.SEEK_END)
    file.seek(0)
    if size > limits.max_bytes:
        raise TooLarge(
            f"The file is larger than the {limits.max_bytes:,} bytes an import may have.",
            details={"field": "file", "limit": limits.max_bytes},
        )
    if size == 0:
        raise BadRequest("The file is empty.", details={"field": "file"})
    magic = file.read(4)
    file.seek(0)
    if magic in (b"PK\x03\x04", b"PK\x05\x06"):
        return _open_zip(file, name=name, limits=limits)

    return Upload(kind="json", documents=[JsonDocument(name, lambda: _FileView(file), size)])


class _FileView(io.RawIOBase):
    """A reader of the uploaded file with its own position, so that two readers of it never
    disturb each other; closing it leaves the file open for the next one."""

    def __init__(self, file: BinaryIO):
        super().__init__()
        self._file = file
        self._position = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self._file.seek(self._position)
        data = self._file.read(size)
        self._position += len(data)
        return data


def _open_zip(file: BinaryIO, *, name: str, limits: ImportLimits) -> Upload:
    _check_central_directory(file, limits)
    try:
        archive = zipfile.ZipFile(file)
        members = archive.infolist()
    except Exception as error:  # zipfile's many ways to say the directory is damaged
        raise _unreadable(name, error) from None
    if len(members) > limits.max_zip_members:
        raise _too_many_members(limits)
    selected = sorted(
        (
            member
            for member in members
            if not member.is_dir()
            and CONVERSATION_MEMBER.search(member.filename)
            and not member.filename.startswith("__MACOSX/")
            and not member.filename.rsplit("/", 1)[-1].startswith("._")
        ),
        key=lambda member: member.filename,
    )
    if not selected:
        raise invalid(
            name,
            "the ZIP holds no conversations.json (nor conversations-NNN.json): "
            "not a ChatGPT export.",
        )
    for member in selected:
        if member.flag_bits & 0x1:
            raise BadRequest(
                f"{member.filename} is encrypted; export it again without a password.",
                details={"field": "file"},
            )
    declared = sum(member.file_size for member in selected)
    if declared > limits.max_uncompressed_bytes:
        raise TooLarge(
            f"The conversations in the ZIP decompress to {declared:,} bytes, more than the "
            f"{limits.max_uncompressed_bytes:,} an import may have.",
            details={"field": "file", "limit": limits.max_uncompressed_bytes},
        )

    def opener(member: zipfile.ZipInfo) -> Callable[[], BinaryIO]:
        def open_member() -> BinaryIO:
            try:
                return archive.open(member)
            except Exception as error:  # a damaged local header, encryption it did not declare
                raise _unreadable(member.filename, error) from None

        return open_member

    # Each member's stream is capped at the size it declares, and the declared sizes add up
    # to at most the limit, so no read of the ZIP decompresses more than the limit in all.
    return Upload(
        kind="zip",
        documents=[
            JsonDocument(member.filename, opener(member), member.file_size) for member in selected
        ],
        assets=_assets(
            members, opener, budget=limits.max_uncompressed_bytes - declared, limits=limits
        ),
    )


def _assets(
    members: list[zipfile.ZipInfo],
    opener: Callable[[zipfile.ZipInfo], Callable[[], BinaryIO]],
    *,
    budget: int,
    limits: ImportLimits,
) -> dict[str, Asset]:
    """The members named by an asset id, by id: those the limits allow (each at most
    max_asset_bytes, all of them within what the conversations left of the decompression
    budget, in name order); the others stay pointers."""
    assets: dict[str, Asset] = {}
    for member in sorted(members, key=lambda member: member.filename):
        found = ASSET_MEMBER.search(member.filename)
        if (
            found is None
            or member.is_dir()
            or member.filename.startswith("__MACOSX/")
            or member.flag_bits & 0x1  # encrypted
            or found[1] in assets
            or member.file_size > min(limits.max_asset_bytes, budget)
        ):
            continue
        assets[found[1]] = Asset(member.filename, member.file_size, opener(member))
        budget -= member.file_size
    return assets


def _too_many_members(limits: ImportLimits) -> TooLarge:
    return TooLarge(
        f"The ZIP has more than the {limits.max_zip_members:,} members an import may have.",
        details={"field": "file", "limit": limits.max_zip_members},
    )


def _check_central_directory(file: BinaryIO, limits: ImportLimits) -> None:
    """Refuse a ZIP whose central directory (which zipfile reads whole, one object per
    member) is too big for the allowed number of members, before zipfile reads it."""
    size = file.seek(0, os.SEEK_END)
    tail_size = min(size, 22 + 0xFFFF)
    file.seek(size - tail_size)
    tail = file.read(tail_size)
    file.seek(0)
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) < end + 22:
        raise BadRequest("The file is not a readable ZIP.", details={"field": "file"})
    directory_size = struct.unpack_from("<I", tail, end + 12)[0]
    if directory_size == 0xFFFFFFFF and end >= 20 and tail[end - 20 : end - 16] == b"PK\x06\x07":
        # ZIP64: the real size is in the ZIP64 end record the locator points to.
        record_offset = struct.unpack_from("<Q", tail, end - 20 + 8)[0]
        file.seek(record_offset)
        record = file.read(56)
        file.seek(0)
        if len(record) < 56 or record[:4] != b"PK\x06\x06":
            raise BadRequest("The file is not a readable ZIP.", details={"field": "file"})
        directory_size = struct.unpack_from("<Q", record, 40)[0]
    if directory_size > limits.max_zip_members * CENTRAL_DIRECTORY_BYTES_PER_MEMBER:
        raise _too_many_members(limits)

"""The first of Django's upload handlers (settings.FILE_UPLOAD_HANDLERS): it refuses a file
upload over IMPORT_MAX_BYTES as early as it can — from the request's Content-Length before
anything is read, else as soon as the file's bytes pass the limit — so that an oversized
upload is never stored whole in a temporary file. Imports are the only uploads the app takes.
"""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParserError

from conversations.exceptions import TooLarge

# Room in the request body for the multipart boundaries and part headers around the file.
ENVELOPE_BYTES = 64 * 1024


class UploadTooLarge(TooLarge, MultiPartParserError):
    """A TooLarge for the API (413 in the error envelope). Being a MultiPartParserError too,
    Django marks the request body as unreadable, and answers 400 outside the API."""


def _too_large() -> UploadTooLarge:
    limit = settings.IMPORT_MAX_BYTES
    return UploadTooLarge(
        f"The upload is larger than the {limit:,} bytes an import may have.",
        details={"field": "file", "limit": limit},
    )


class UploadSizeLimitHandler(FileUploadHandler):
    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > settings.IMPORT_MAX_BYTES + ENVELOPE_BYTES:
            raise _too_large()
        # None: the next handlers parse the body as usual.

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > settings.IMPORT_MAX_BYTES:
            raise _too_large()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        # The handlers after this one make the file.
        return None

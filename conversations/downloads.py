"""An artifact's file as an HTTP answer, the same from the thread page and the API."""

from django.http import FileResponse

from conversations.models import Artifact


def artifact_response(artifact: Artifact) -> FileResponse:
    """A stored image (its type read from its bytes when it was stored) is answered inline,
    to be shown in the thread; anything else only ever downloads, untyped, so that an HTML
    or SVG file someone else wrote cannot run on our origin. SecurityMiddleware adds
    `nosniff` to both."""
    name = artifact.path.rsplit("/", 1)[-1] or "artifact"
    if artifact.is_inline_image:
        return FileResponse(artifact.file.open("rb"), filename=name, content_type=artifact.mime)
    return FileResponse(
        artifact.file.open("rb"),
        as_attachment=True,
        filename=name,
        content_type="application/octet-stream",
    )

"""ASGI entry point: what uvicorn serves (`scripts/serve`). Django handles HTTP; the
lifespan starts each process's background work (chatapp/lifespan.py)."""

import os
import re
import warnings

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")

# whitenoise serves static files as a synchronous file iterator, which Django's ASGI handler
# consumes in a worker thread and warns about on every file. That is the intended cost for
# small static files; the app's own streams (replies, /events) are asynchronous.
warnings.filterwarnings(
    "ignore", message="StreamingHttpResponse must consume synchronous iterators"
)

django_application = get_asgi_application()

from django.core.handlers.asgi import ASGIHandler  # noqa: E402 (needs Django set up)

from chatapp.lifespan import handle_lifespan  # noqa: E402
from chatapp.startup import freeze_loaded_objects  # noqa: E402


class SharedThreadHandler(ASGIHandler):
    """Django's handler without its per-request thread context: the request's synchronous
    parts (signals, the auth check) run on asgiref's one shared thread. Django's own gives
    each request a thread that it keeps until the response ends — for a stream that lasts
    minutes, one thread and one database connection per open stream."""

    async def __call__(self, scope, receive, send):
        await self.handle(scope, receive, send)


stream_application = SharedThreadHandler()
STREAM_PATHS = re.compile(r"^/api/v1/(events|conversations/[^/]+/reply)$")


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        await handle_lifespan(receive, send)
    elif scope["type"] == "http" and STREAM_PATHS.match(scope.get("path", "")):
        await stream_application(scope, receive, send)
    else:
        await django_application(scope, receive, send)


freeze_loaded_objects()

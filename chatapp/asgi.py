"""ASGI entry point: what uvicorn serves (`scripts/serve`). Django handles HTTP; the
lifespan starts each process's background work (chatapp/lifespan.py)."""

import os
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

from chatapp.lifespan import handle_lifespan  # noqa: E402 (needs Django set up)


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        await handle_lifespan(receive, send)
        return
    await django_application(scope, receive, send)

"""ASGI entry point: what uvicorn serves (`scripts/serve`)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
application = get_asgi_application()

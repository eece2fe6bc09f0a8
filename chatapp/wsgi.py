"""WSGI entry point (for servers without ASGI; streaming needs asgi.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
application = get_wsgi_application()

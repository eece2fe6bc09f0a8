#!/usr/bin/env python
"""Django's command-line utility for chatapp."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
    if sys.argv[1:2] != ["runserver"]:
        # See _secret_key in chatapp/settings.py: commands may run without SECRET_KEY.
        os.environ.setdefault("CHATAPP_MANAGEMENT_COMMAND", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

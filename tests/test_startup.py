"""A server process freezes what it has loaded before its first request (chatapp/startup.py):
the full garbage collections of a busy process then no longer walk Django's own objects."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

REPORT = """
import gc, sys
import {module}
print(gc.get_freeze_count(), "conversations.api.messages" in sys.modules)
"""


@pytest.mark.parametrize("module", ["chatapp.asgi", "chatapp.wsgi"])
def test_the_entry_point_imports_the_views_and_freezes_them(module):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatapp.settings", "DEBUG": "true"}
    shown = subprocess.run(
        [sys.executable, "-c", REPORT.format(module=module)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    frozen, views_loaded = shown.stdout.split()
    # Django, ninja and pydantic alone are tens of thousands of objects.
    assert int(frozen) > 20_000
    assert views_loaded == "True"


def test_objects_made_later_are_still_collected():
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gc, chatapp.asgi\n"
            "class Cycle: pass\n"
            "a = Cycle(); a.me = a; del a\n"
            "print(gc.collect())",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "chatapp.settings", "DEBUG": "true"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(shown.stdout.split()[-1]) >= 1

"""The demo app as each uvicorn worker process builds it (``tasktail demo --redis URL``):
the options come from the ``TASKTAIL_DEMO_OPTIONS`` environment variable (JSON), which the
command sets before uvicorn starts the workers."""

from __future__ import annotations

import json
import os

ENV = "TASKTAIL_DEMO_OPTIONS"


def app():
    from ._app import create_app

    return create_app(**json.loads(os.environ[ENV]))

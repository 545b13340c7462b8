"""A Starlette app on the Redis backend, served by real uvicorn processes in the tests.

``TASKTAIL_TEST_REDIS_URL`` names the Redis; each process runs its own manager."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from tasktail.manager.starlette import stream_task
from tasktail.redis import open_manager

managers: list = []


@asynccontextmanager
async def lifespan(app):
    async with open_manager(os.environ["TASKTAIL_TEST_REDIS_URL"], claim_ttl=2.0) as manager:
        managers.append(manager)
        yield


async def follow(websocket):
    await stream_task(websocket, managers[0], websocket.path_params["task_id"])


app = Starlette(routes=[WebSocketRoute("/ws/{task_id}", follow)], lifespan=lifespan)

"""An ASGI app served by uvicorn on a free loopback port in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal

import uvicorn
from fastapi import FastAPI

from headwater.devstack.ports import pick


@contextlib.asynccontextmanager
async def served(app: FastAPI, *, lifespan: Literal["on", "off"] = "off") -> AsyncIterator[str]:
    """The app's base URL while it is served; stopped however the test ends."""
    port = pick(None, set())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan=lifespan))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the server did not start"
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task

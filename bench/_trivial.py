"""The raw baseline server: aiohttp handlers that do no fahadfs work.

`POST /noop` answers an empty CBOR map; `PUT /blob/{name}` writes the body to disk and fsyncs
(the ceiling for a data-path PUT); `GET /blob/{name}` serves it with sendfile.
Run as `python -m bench._trivial PORT DIR`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cbor2
from aiohttp import web

READ_BUFFER = 1 << 20


async def noop(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=cbor2.dumps({}), content_type="application/cbor")


def make_app(root: Path) -> web.Application:
    async def put(request: web.Request) -> web.Response:
        path = root / request.match_info["name"]
        with open(path, "wb") as fh:
            async for piece in request.content.iter_chunked(READ_BUFFER):
                fh.write(piece)
            fh.flush()
            os.fsync(fh.fileno())
        return web.Response(body=cbor2.dumps({}), content_type="application/cbor")

    async def get(request: web.Request) -> web.StreamResponse:
        path = root / request.match_info["name"]
        if path.stat().st_size < 256 << 10:
            return web.Response(body=path.read_bytes())
        return web.FileResponse(path)

    app = web.Application(client_max_size=1 << 40)
    app.router.add_post("/noop", noop)
    app.router.add_put("/blob/{name}", put)
    app.router.add_get("/blob/{name}", get)
    return app


if __name__ == "__main__":
    port, root = int(sys.argv[1]), Path(sys.argv[2])
    root.mkdir(parents=True, exist_ok=True)
    web.run_app(
        make_app(root),
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
        read_bufsize=READ_BUFFER,
    )

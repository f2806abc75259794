"""The fahadfs Python client: an async core and a blocking twin.

    from fahadfs import config
    from fahadfs.client import Client, SyncClient

    async with Client(config.load()) as c:
        await c.put("local.bin", "/remote.bin")

    with SyncClient(config.load()) as c:
        print(c.ls("/"))

Remote failures raise ``fahadfs.errors`` classes (NotFound, Busy, NoLeader, ...); local file
problems raise OSError.
"""

from fahadfs.client.core import Client, GetResult, PutResult, new_rid
from fahadfs.client.sync import SyncClient

__all__ = ["Client", "GetResult", "PutResult", "SyncClient", "new_rid"]

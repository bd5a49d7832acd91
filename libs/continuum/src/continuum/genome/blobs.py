"""Where layer weights live: two JetStream Object Store buckets.

``GENOME_LAYERS`` holds accepted weights, named by their sha256, so
identical weights are stored once however many layers (forks) use them.
``GENOME_UPLOADS`` holds uploads waiting for the registry's verdict; they
expire on their own, so an abandoned upload leaves nothing behind, and an
interrupted one is never visible (an object exists only once its last chunk
and its metadata are written).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import BinaryIO

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    ObjectInfo,
    ObjectMeta,
    ObjectMetaOptions,
    ObjectStoreConfig,
    StorageType,
)
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

LAYERS_BUCKET = "GENOME_LAYERS"
UPLOADS_BUCKET = "GENOME_UPLOADS"
UPLOAD_TTL_S = 3600.0
CHUNK = 512 * 1024
_TIMEOUT_S = 10.0


def object_name(sha256: str) -> str:
    return f"sha256-{sha256}"


def bucket_configs() -> list[ObjectStoreConfig]:
    return [
        ObjectStoreConfig(
            bucket=LAYERS_BUCKET,
            description="Genome layer weights (safetensors), content-addressed by sha256",
            storage=StorageType.FILE,
        ),
        ObjectStoreConfig(
            bucket=UPLOADS_BUCKET,
            description="Layer weights uploaded for publishing, awaiting validation",
            storage=StorageType.FILE,
            ttl=UPLOAD_TTL_S,
        ),
    ]


async def declare_buckets(js: JetStreamContext) -> list[str]:
    declared = []
    for config in bucket_configs():
        assert config.bucket is not None
        try:
            await js.object_store(config.bucket)
        except (BucketNotFoundError, NotFoundError):
            await js.create_object_store(config.bucket, config=config)
        declared.append(f"OBJ_{config.bucket}")
    return declared


class LayerBlobs:
    """The two buckets, as the registry, the gateway and persona-runtime use them."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._stores: dict[str, ObjectStore] = {}
        self._infos: dict[str, ObjectInfo] = {}

    async def _store(self, bucket: str) -> ObjectStore:
        store = self._stores.get(bucket)
        if store is None:
            store = self._stores[bucket] = await self.js.object_store(bucket)
        return store

    async def _has(self, bucket: str, sha256: str) -> bool:
        try:
            await (await self._store(bucket)).get_info(object_name(sha256))
        except ObjectNotFoundError:
            return False
        return True

    async def _get(self, bucket: str, sha256: str) -> bytes:
        """Read an object's chunks with one batched direct get.

        nats-py's ``ObjectStore.get`` creates an ephemeral consumer per read;
        under a burst of cache misses they pile up faster than the server
        reaps them ("maximum consumers limit reached"). A direct get needs no
        consumer (object store streams allow them), and a batched one
        (NATS 2.11+) returns every chunk for one round trip. Integrity is the
        caller's to check against the sha256 it asked for (the registry and
        persona-runtime do, before anything is used)."""
        info = self._infos.get(sha256) if bucket == LAYERS_BUCKET else None
        if info is None:
            try:
                info = await (await self._store(bucket)).get_info(object_name(sha256))
            except ObjectNotFoundError:
                raise KeyError(sha256) from None
            if bucket == LAYERS_BUCKET:  # accepted layers never change: remember where
                self._infos[sha256] = info
        size, chunks = int(info.size or 0), int(info.chunks or 0)
        if size == 0:
            return b""
        subject = f"$O.{bucket}.C.{info.nuid}"
        parts = await self._batch(f"OBJ_{bucket}", subject, chunks)
        data = b"".join(parts)
        if len(data) != size:
            raise KeyError(sha256)  # chunks went missing: treat the object as absent
        return data

    async def _batch(self, stream: str, subject: str, count: int) -> list[bytes]:
        inbox = self.js._nc.new_inbox()
        queue: asyncio.Queue[Msg] = asyncio.Queue()
        sub = await self.js._nc.subscribe(inbox, cb=queue.put)
        try:
            request = {"seq": 1, "next_by_subj": subject, "batch": count}
            await self.js._nc.publish(
                f"$JS.API.DIRECT.GET.{stream}", json.dumps(request).encode(), reply=inbox
            )
            parts: list[bytes] = []
            while len(parts) < count:
                msg = await asyncio.wait_for(queue.get(), _TIMEOUT_S)
                if not msg.data:  # a status: end of batch (204), or an error
                    break
                parts.append(msg.data)
            return parts
        finally:
            await sub.unsubscribe()

    async def has_layer(self, sha256: str) -> bool:
        return await self._has(LAYERS_BUCKET, sha256)

    async def get_layer(self, sha256: str) -> bytes:
        return await self._get(LAYERS_BUCKET, sha256)

    async def put_layer(self, sha256: str, data: bytes) -> None:
        if not await self.has_layer(sha256):  # content-addressed: stored once
            await (await self._store(LAYERS_BUCKET)).put(
                object_name(sha256), data, meta=_meta(sha256)
            )

    async def has_upload(self, sha256: str) -> bool:
        return await self._has(UPLOADS_BUCKET, sha256)

    async def get_upload(self, sha256: str) -> bytes:
        return await self._get(UPLOADS_BUCKET, sha256)

    async def put_upload(self, sha256: str, data: bytes | BinaryIO) -> None:
        store = await self._store(UPLOADS_BUCKET)
        await store.put(object_name(sha256), data, meta=_meta(sha256))  # type: ignore[arg-type]

    async def delete_upload(self, sha256: str) -> None:
        with contextlib.suppress(ObjectNotFoundError, NotFoundError):
            await (await self._store(UPLOADS_BUCKET)).delete(object_name(sha256))


def _meta(sha256: str) -> ObjectMeta:
    # Fewer, larger chunks than nats-py's 128 KiB: fewer round trips per read
    # (NATS' default max payload is 1 MiB; a chunk must fit in one message).
    return ObjectMeta(name=object_name(sha256), options=ObjectMetaOptions(max_chunk_size=CHUNK))

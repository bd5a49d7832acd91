"""Where layer weights live: two JetStream Object Store buckets.

``GENOME_LAYERS`` holds accepted weights, named by their sha256, so
identical weights are stored once however many layers (forks) use them.
``GENOME_UPLOADS`` holds uploads waiting for the registry's verdict; they
expire on their own, so an abandoned upload leaves nothing behind, and an
interrupted one is never visible (an object exists only once its last chunk
and its metadata are written).
"""

from __future__ import annotations

import contextlib
from typing import BinaryIO

from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

LAYERS_BUCKET = "GENOME_LAYERS"
UPLOADS_BUCKET = "GENOME_UPLOADS"
UPLOAD_TTL_S = 3600.0


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
        try:
            result = await (await self._store(bucket)).get(object_name(sha256))
        except ObjectNotFoundError:
            raise KeyError(sha256) from None
        return bytes(result.data or b"")

    async def has_layer(self, sha256: str) -> bool:
        return await self._has(LAYERS_BUCKET, sha256)

    async def get_layer(self, sha256: str) -> bytes:
        return await self._get(LAYERS_BUCKET, sha256)

    async def put_layer(self, sha256: str, data: bytes) -> None:
        if not await self.has_layer(sha256):  # content-addressed: stored once
            await (await self._store(LAYERS_BUCKET)).put(object_name(sha256), data)

    async def has_upload(self, sha256: str) -> bool:
        return await self._has(UPLOADS_BUCKET, sha256)

    async def get_upload(self, sha256: str) -> bytes:
        return await self._get(UPLOADS_BUCKET, sha256)

    async def put_upload(self, sha256: str, data: bytes | BinaryIO) -> None:
        await (await self._store(UPLOADS_BUCKET)).put(object_name(sha256), data)  # type: ignore[arg-type]

    async def delete_upload(self, sha256: str) -> None:
        with contextlib.suppress(ObjectNotFoundError, NotFoundError):
            await (await self._store(UPLOADS_BUCKET)).delete(object_name(sha256))

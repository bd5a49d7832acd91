"""The lab's edge: layers in and out of the genome registry.

Genomes are resolved against the genome log (a LayerCatalog folded by the
service), their weights fetched from the layers bucket and verified (sha256,
signature, safetensors header) by the same code persona-runtime uses, and
combined exactly (``cat``) into one LoRA for the lab. Layers the academy
makes are signed with the node's key and published through the registry
like anyone's: upload to the staging bucket, then the signed manifest.

Decoded layers are kept in a byte-bounded cache (persona-runtime's
``LruBytes``): an evolution run or a long-lived node that touches many
layers keeps the ones it uses most, not all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from nacl.signing import SigningKey

from continuum.events.persona import GenomeLayerRef
from continuum.genome import LayerCatalog
from continuum.genome.blobs import LayerBlobs
from continuum.genome.manifest import build_manifest, sha256_hex
from continuum_academy.lab.weights import LoraWeights, concat
from continuum_lm.lru import LruBytes
from continuum_lm.weights import decode_layer

Request = Callable[[str, dict[str, Any], float], Awaitable[dict[str, Any]]]

#: Decoded layers kept in memory by default (``CONTINUUM_ACADEMY_LAYER_CACHE_MB``).
DEFAULT_CACHE_BYTES = 512 * 1024 * 1024


class Workshop:
    def __init__(
        self,
        catalog: LayerCatalog,
        blobs: LayerBlobs,
        key: SigningKey,
        request: Request,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.catalog, self.blobs, self.key, self.request = catalog, blobs, key, request
        self.cache: LruBytes[LoraWeights] = LruBytes(cache_bytes)

    async def layer(self, layer_id: str, version: str = "latest") -> tuple[str, LoraWeights]:
        published = self.catalog.resolve(layer_id, version)
        ref = published.manifest.ref
        self.cache.frequency.record(ref)
        cached = self.cache.get(ref)
        if cached is not None:
            return ref, cached
        data = await self.blobs.get_layer(published.manifest.sha256)
        decoded = await asyncio.to_thread(decode_layer, data, published)
        config = decoded.config
        weights = LoraWeights(
            decoded.tensors,
            int(str(config.get("r", published.manifest.rank))),
            float(str(config.get("lora_alpha", config.get("r", 8)))),
            sorted(published.manifest.target_modules),
        )
        if self.cache.admit(ref, weights.nbytes):
            self.cache.put(ref, weights, weights.nbytes)
        return ref, weights

    async def genome(self, refs: Sequence[GenomeLayerRef]) -> tuple[list[str], LoraWeights | None]:
        """The genome's layers resolved (``layer@version``) and combined exactly."""
        if not refs:
            return [], None
        stack, resolved = [], []
        for ref in refs:
            name, weights = await self.layer(ref.layer_id, ref.version)
            resolved.append(name)
            stack.append((weights, ref.weight))
        return resolved, concat(stack)

    async def publish(
        self,
        weights: LoraWeights,
        *,
        name: str,
        version: str,
        description: str,
        domains: Sequence[str],
        parents: Sequence[str],
    ) -> str:
        from safetensors.torch import save

        data = save({k: v.contiguous() for k, v in weights.tensors.items()})
        draft = {
            "name": name,
            "version": version,
            "description": description,
            "domains": list(domains),
            "parents": list(parents),
            "license": "unspecified",
        }
        manifest, signature = build_manifest(weights.adapter_config(), data, draft, self.key)
        sha = sha256_hex(data)
        await self.blobs.put_upload(sha, data)
        body = {"manifest": manifest.model_dump(mode="json"), "signature": signature}
        reply = await self.request("cmd.genome-registry.publish", body, 120.0)
        return str(reply.get("ref") or manifest.ref)

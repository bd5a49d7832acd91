"""Signing and verifying layer manifests.

The signed bytes are the manifest's canonical JSON: keys sorted, no
whitespace, UTF-8. Anyone holding a manifest and its signature can check it
from the manifest alone (``creator`` is the public key, base32 like a node
id): the registry does on publish, and persona-runtime does again before it
loads the weights, together with the sha256 of the bytes it fetched.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey
from pydantic import ValidationError

from continuum.events.envelope import describe_validation_error
from continuum.events.genome import LayerManifest
from continuum.genome.errors import LayerError
from continuum.identity import key_from_node_id, node_id_from_key


def canonical_bytes(manifest: LayerManifest | dict[str, Any]) -> bytes:
    doc = manifest.model_dump(mode="json") if isinstance(manifest, LayerManifest) else manifest
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def creator_of(key: SigningKey) -> str:
    return node_id_from_key(key.verify_key)


def sign_manifest(manifest: LayerManifest, key: SigningKey) -> str:
    if manifest.creator != creator_of(key):
        raise LayerError("the manifest's creator is not the public key of the signing key")
    return base64.b64encode(key.sign(canonical_bytes(manifest)).signature).decode()


def verify_manifest(manifest: LayerManifest, signature: str) -> None:
    """Raise LayerError unless ``signature`` is the creator's signature of ``manifest``."""
    if not signature:
        raise LayerError("the manifest is not signed (no signature)")
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        raise LayerError("the manifest signature is not base64") from None
    try:
        key = key_from_node_id(manifest.creator)
    except ValueError as exc:
        raise LayerError(f"the manifest's creator is not a public key: {exc}") from None
    try:
        key.verify(canonical_bytes(manifest), raw)
    except (BadSignatureError, ValueError):
        raise LayerError(
            f"the manifest signature does not verify for creator {manifest.creator[:12]}… "
            "(forged, or the manifest was changed after signing)"
        ) from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_manifest(
    config: dict[str, Any], data: bytes, draft: dict[str, Any], key: SigningKey, **overrides: Any
) -> tuple[LayerManifest, str]:
    """A signed manifest for adapter weights: the draft's fields (a
    ``continuum-layer.json``), overridden by non-empty ``overrides``, completed
    from the adapter config and the weights, signed with ``key``."""
    fields = {k: v for k, v in draft.items() if k in LayerManifest.model_fields}
    fields.update({k: v for k, v in overrides.items() if v not in (None, [], "")})
    targets = config.get("target_modules")
    if isinstance(targets, str):
        raise LayerError("target_modules is a regular expression; list the module names instead")
    fields.update(
        adapter_config=config,
        target_modules=sorted(targets or []),
        rank=config.get("r"),
        sha256=sha256_hex(data),
        size=len(data),
        creator=creator_of(key),
    )
    fields.setdefault("version", "1.0.0")
    fields.setdefault("base_model", "builtin")
    name = fields.get("name")
    if isinstance(name, str) and ("/" in name or "\\" in name or ".." in name):
        raise LayerError(f"layer name {name!r} must not contain path components")
    try:
        manifest = LayerManifest.model_validate(fields)
    except ValidationError as exc:
        raise LayerError(f"invalid manifest: {describe_validation_error(exc)}") from None
    return manifest, sign_manifest(manifest, key)

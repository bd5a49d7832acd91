"""Genome layers over HTTP: blobs (weights) in, signed manifests to the
registry, search and lineage out; persona genomes and the layer cache.

Publishing is two steps, as in OCI registries: ``PUT /v1/genome/blobs/{sha256}``
uploads the weights (checked against the digest in the path while they
stream in, kept only if they match), then ``POST /v1/genome/layers`` sends
the signed manifest that names them. The registry validates both before
anything becomes visible; an upload that is never published expires.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from continuum.events.genome import LAYER_ID_PATTERN, SHA256_PATTERN
from continuum.genome.blobs import LayerBlobs
from continuum_gateway.http import bodies
from continuum_gateway.http.app import gateway_of
from continuum_gateway.http.auth import require
from continuum_gateway.http.errors import ApiError
from continuum_gateway.http.routes_chat import PersonaKey, call_service
from continuum_gateway.mesh.layers import RemoteLayers
from continuum_gateway.tokens import ApiToken

router = APIRouter()

BLOBS_PREFIX = "/v1/genome/blobs/"
LayerId = Annotated[str, Path(pattern=LAYER_ID_PATTERN, description="A layer id.")]
Sha256 = Annotated[str, Path(pattern=SHA256_PATTERN, description="sha256 of the weights (hex).")]
Version = Annotated[
    str, Query(pattern=r"^[0-9A-Za-z.+-]{1,48}$", description="A version or latest.")
]
_SPOOL = 8 * 1024 * 1024


def blobs_of(request: Request) -> LayerBlobs:
    state = request.app.state
    if getattr(state, "layer_blobs", None) is None:
        state.layer_blobs = LayerBlobs(gateway_of(request).nc.jetstream())
    blobs: LayerBlobs = state.layer_blobs
    return blobs


async def _registry(request: Request, op: str, body: dict[str, Any]) -> Any:
    return await call_service(request, "genome-registry", op, body, 30)


async def _runtime(request: Request, op: str, body: dict[str, Any]) -> Any:
    return await call_service(request, "persona-runtime", op, body, 30)


@router.put(
    BLOBS_PREFIX + "{sha256}", summary="Upload layer weights (safetensors), named by their sha256"
)
async def put_blob(
    request: Request, sha256: Sha256, _: Annotated[ApiToken, Depends(require("publish"))]
) -> Response:
    blobs = blobs_of(request)
    digest = hashlib.sha256()
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as spool:
        try:
            async for chunk in request.stream():
                digest.update(chunk)
                spool.write(chunk)
                size += len(chunk)
        except ClientDisconnect:
            raise ApiError(400, "the upload was interrupted; nothing was stored") from None
        if digest.hexdigest() != sha256:
            raise ApiError(
                400,
                f"hash mismatch: the body's sha256 is {digest.hexdigest()}, "
                f"the path names {sha256}",
            )
        if size == 0:
            raise ApiError(400, "the upload is empty")
        if await blobs.has_layer(sha256):
            return _json({"sha256": sha256, "size": size, "stored": "exists"}, 200)
        spool.seek(0)
        await blobs.put_upload(sha256, spool)  # type: ignore[arg-type]
    return _json({"sha256": sha256, "size": size, "stored": "upload"}, 201)


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


@router.get(BLOBS_PREFIX + "{sha256}", summary="Download published layer weights")
async def get_blob(
    request: Request, sha256: Sha256, _: Annotated[ApiToken, Depends(require("read"))]
) -> StreamingResponse:
    try:
        data = await blobs_of(request).get_layer(sha256)
    except KeyError:
        raise ApiError(404, f"no published weights with sha256 {sha256}") from None

    async def body() -> Any:
        for start in range(0, len(data), 256 * 1024):
            yield data[start : start + 256 * 1024]

    return StreamingResponse(
        body(),
        media_type="application/octet-stream",
        headers={"Content-Length": str(len(data)), "X-Content-SHA256": sha256},
    )


@router.post("/v1/genome/layers", status_code=201, summary="Publish a layer (signed manifest)")
async def publish_layer(
    request: Request,
    body: Annotated[bodies.SignedManifest, Body()],
    _: Annotated[ApiToken, Depends(require("publish"))],
) -> Any:
    return await _registry(request, "publish", await bodies.sent(request))


@router.get("/v1/genome/layers", summary="List layers")
async def list_layers(
    request: Request,
    _: Annotated[ApiToken, Depends(require("read"))],
    base_model: Annotated[str | None, Query(max_length=256)] = None,
    domain: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=0, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Any:
    body = {"base_model": base_model, "domain": domain, "limit": limit, "offset": offset}
    return await _registry(request, "list", body)


@router.get("/v1/genome/search", summary="Find layers by what they can do")
async def search_layers(
    request: Request,
    _: Annotated[ApiToken, Depends(require("read"))],
    q: Annotated[
        str, Query(min_length=1, max_length=2000, description="What the layer should do.")
    ],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    base_model: Annotated[str | None, Query(max_length=256)] = None,
    domain: Annotated[str | None, Query(max_length=64)] = None,
    min_score: Annotated[float, Query(ge=-1.0, le=1.0)] = -1.0,
    mesh: Annotated[
        Literal["local", "global"],
        Query(description="global: every peer's registry too (each result names its node)."),
    ] = "local",
) -> Any:
    body = {"query": q, "k": k, "base_model": base_model, "domain": domain, "min_score": min_score}
    found = await _registry(request, "search", body)
    if mesh == "local":
        return found
    router = gateway_of(request).mesh
    if router is None:
        raise ApiError(503, "the mesh agent is not running on this node (see gateway.log)")
    agent = router.agent
    here = [{**r, "node": agent.node_id, "node_name": agent.node_name} for r in found["results"]]
    remote = await RemoteLayers(agent).search(q, k, min_score)
    results = sorted(here + remote["results"], key=lambda r: -float(r.get("score", 0)))
    return {"results": results[:k], "unreachable": remote["unreachable"]}


@router.get(
    "/v1/genome/layers/{layer}", summary="A layer: versions, manifest, near-duplicates, usage"
)
async def show_layer(
    request: Request,
    layer: LayerId,
    _: Annotated[ApiToken, Depends(require("read"))],
    version: Version = "latest",
) -> Any:
    return await _registry(request, "show", {"layer": layer, "version": version})


@router.get("/v1/genome/layers/{layer}/manifest", summary="A layer version's signed manifest")
async def layer_manifest(
    request: Request,
    layer: LayerId,
    _: Annotated[ApiToken, Depends(require("read"))],
    version: Version = "latest",
) -> Any:
    return await _registry(request, "manifest", {"layer": layer, "version": version})


@router.get("/v1/genome/layers/{layer}/lineage", summary="Parents and descendants of a layer")
async def layer_lineage(
    request: Request,
    layer: LayerId,
    _: Annotated[ApiToken, Depends(require("read"))],
    version: Version = "latest",
) -> Any:
    return await _registry(request, "lineage", {"layer": layer, "version": version})


@router.post(
    "/v1/genome/layers/{layer}/fork", status_code=201, summary="Fork a layer (signed manifest)"
)
async def fork_layer(
    request: Request,
    layer: LayerId,
    body: Annotated[bodies.Fork, Body()],
    _: Annotated[ApiToken, Depends(require("publish"))],
    version: Version = "latest",
) -> Any:
    return await _registry(
        request, "fork", {**await bodies.sent(request), "source": f"{layer}@{version}"}
    )


@router.put("/v1/personas/{persona}/genome", summary="Replace a persona's genome (next turn)")
async def set_genome(
    request: Request,
    persona: PersonaKey,
    body: Annotated[bodies.NewGenome, Body()],
    _: Annotated[ApiToken, Depends(require("admin"))],
) -> Any:
    return await _runtime(request, "genome", {**await bodies.sent(request), "persona": persona})


@router.get("/v1/genome/cache", summary="persona-runtime's layer cache, per tier")
async def cache_report(request: Request, _: Annotated[ApiToken, Depends(require("read"))]) -> Any:
    return await _runtime(request, "cache", {})


@router.put("/v1/genome/cache/pins/{layer}", summary="Pin a layer in the cache")
async def pin_layer(
    request: Request, layer: LayerId, _: Annotated[ApiToken, Depends(require("admin"))]
) -> Any:
    return await _runtime(request, "cache", {"pin": layer})


@router.delete("/v1/genome/cache/pins/{layer}", summary="Unpin a layer")
async def unpin_layer(
    request: Request, layer: LayerId, _: Annotated[ApiToken, Depends(require("admin"))]
) -> Any:
    return await _runtime(request, "cache", {"unpin": layer})

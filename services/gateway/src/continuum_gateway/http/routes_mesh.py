"""The mesh over HTTP: the peers this node believes, and generations routed
to the best node (``POST /v1/ai/generate``, ``jtag ai/generate`` over HTTP).

A generation answers as JSON when it is done, or, asked with ``stream`` or
``Accept: text/event-stream``, as Server-Sent Events: the route with every
candidate, the answer's pieces as they come, a ``moved`` frame where the
answer moved to another node, and ``done`` with the result.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Path, Request, Response
from fastapi.responses import StreamingResponse

from continuum.contracts.commands import MeshGenerate, MeshGenerated, MeshPeers
from continuum.mesh.routing import NoRoute
from continuum_gateway.http import bodies
from continuum_gateway.http.app import gateway_of
from continuum_gateway.http.auth import require
from continuum_gateway.http.errors import ApiError
from continuum_gateway.http.live import sse_response
from continuum_gateway.http.routes_genome import LayerId, Sha256, Version
from continuum_gateway.mesh.commands import describe_peers
from continuum_gateway.mesh.layers import RemoteLayerError, RemoteLayers
from continuum_gateway.mesh.router import MeshRouter
from continuum_gateway.tokens import ApiToken

router = APIRouter()
T = TypeVar("T")


def _mesh(request: Request) -> MeshRouter:
    mesh = gateway_of(request).mesh
    if mesh is None:
        raise ApiError(503, "the mesh agent is not running on this node (see gateway.log)")
    return mesh


@router.get("/v1/mesh/peers", summary="The mesh as this node sees it", response_model=MeshPeers)
async def peers(request: Request, _: Annotated[ApiToken, Depends(require("read"))]) -> Any:
    return describe_peers(_mesh(request).agent)


@router.get("/v1/mesh/routes", summary="Where this node's last generations went, and why")
async def routes(request: Request, _: Annotated[ApiToken, Depends(require("read"))]) -> Any:
    return {"routes": list(reversed(_mesh(request).recent))}


NodeKey = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9 _.-]{1,128}$", description="A node: id, id prefix or name.")
]


async def _remote(work: Awaitable[T]) -> T:
    try:
        return await work
    except NoRoute as exc:
        raise ApiError(404, str(exc)) from None
    except RemoteLayerError as exc:
        raise ApiError(exc.status if exc.status in (400, 404) else 503, exc.message) from None


@router.get(
    "/v1/mesh/nodes/{node}/layers/{layer}/manifest",
    summary="A peer's signed layer manifest, verified against its creator's signature",
)
async def remote_manifest(
    request: Request,
    node: NodeKey,
    layer: LayerId,
    _: Annotated[ApiToken, Depends(require("read"))],
    version: Version = "latest",
) -> Any:
    return await _remote(RemoteLayers(_mesh(request).agent).manifest(node, layer, version))


@router.get(
    "/v1/mesh/nodes/{node}/blobs/{sha256}",
    summary="A peer's published layer weights, returned only once they hash to sha256",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def remote_weights(
    request: Request,
    node: NodeKey,
    sha256: Sha256,
    _: Annotated[ApiToken, Depends(require("read"))],
) -> Response:
    data = await _remote(RemoteLayers(_mesh(request).agent).weights(node, sha256))
    return Response(
        data, media_type="application/octet-stream", headers={"X-Content-SHA256": sha256}
    )


@router.post(
    "/v1/ai/generate",
    summary="Generate with a persona, here or on the best node of the mesh (JSON or SSE)",
    response_model=MeshGenerated,
    responses={
        200: {
            "description": "The result (JSON), or Server-Sent Events whose data are JSON "
            "frames: route, piece, moved, done (with the result).",
            "content": {"text/event-stream": {}},
        }
    },
)
async def generate(
    request: Request,
    body: Annotated[bodies.NewGeneration, Body()],
    _: Annotated[ApiToken, Depends(require("publish"))],
) -> Any:
    mesh = _mesh(request)
    order = MeshGenerate(
        prompt=body.prompt,
        persona=body.persona,
        mesh=body.mesh,
        max_tokens=body.max_tokens,
        deadline_s=body.deadline_s,
    )
    if body.stream or "text/event-stream" in request.headers.get("accept", ""):
        return await _streamed(mesh, order)
    try:
        result = await mesh.generate(order, _ignore)
    except NoRoute as exc:
        raise ApiError(404, str(exc)) from None
    if result["status"] != "complete":
        raise ApiError(503, f"generation failed: {result['error']}")
    return result


async def _ignore(_: dict[str, Any]) -> None:
    return None


class _Frames:
    """A routed generation as an SSE source: its frames, then ``done``."""

    def __init__(self, mesh: MeshRouter, order: MeshGenerate) -> None:
        self.items: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.task = asyncio.ensure_future(mesh.generate(order, self._emit))
        self.task.add_done_callback(self._finished)
        self.first: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def _emit(self, frame: dict[str, Any]) -> None:
        if not self.first.done():
            self.first.set_result(None)
        self.items.put_nowait(frame)

    def _finished(self, task: asyncio.Task[dict[str, Any]]) -> None:
        if not self.first.done():
            self.first.set_result(None)
        if not task.cancelled() and task.exception() is None:
            self.items.put_nowait({"kind": "done", **task.result()})
        self.items.put_nowait(None)

    async def next(self, timeout: float) -> dict[str, Any] | None:
        try:
            item = await asyncio.wait_for(self.items.get(), timeout)
        except TimeoutError:
            return None
        if item is None:
            raise StopAsyncIteration
        return item

    async def close(self) -> None:
        """The client went away: the generation stops with it."""
        if not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


async def _streamed(mesh: MeshRouter, order: MeshGenerate) -> StreamingResponse:
    frames = _Frames(mesh, order)
    await frames.first
    if frames.task.done() and frames.task.exception() is not None:
        error = frames.task.exception()
        if isinstance(error, NoRoute):
            raise ApiError(404, str(error))
        raise ApiError(503, f"generation failed: {error}")
    return sse_response(frames, "generating", lambda item: (None, item))

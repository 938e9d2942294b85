"""The server's HTTP side: the WebSocket endpoint, pictures, documents and a health check.

Every route but `/api/health` needs the token (`Authorization: Bearer <token>`). Pictures are
JPEG; errors are JSON with a translation key, as on the WebSocket. A sensitive picture (every
crop; the analysed frame outside a private home) also needs an administrator named in the
`X-Vigil-Actor` header, and each view is written to the access log (picture_access.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
import json
import logging
import re
from typing import TYPE_CHECKING

from aiohttp import web

from vigil_core.compliance.inventory import camera_detectors
from vigil_core.geometry.polygon import Polygon
from vigil_core.privacy.context import shows_tracks
import vigil_protocol as vp

from .picture_access import check_crop_view, check_frame_view
from .pictures import Drawing, camera_picture, render
from .session import HEARTBEAT_S, MAX_MESSAGE_BYTES, Session

if TYPE_CHECKING:
    from .app import VigilServer

_LOGGER = logging.getLogger(__name__)

SERVER_KEY: web.AppKey[VigilServer] = web.AppKey("vigil_server")
_DOCUMENT = re.compile(r"^[A-Za-z0-9_.-]+\.(md|pdf|json)$")


def build_app(server: VigilServer) -> web.Application:
    """Return the aiohttp application of a server."""
    app = web.Application(client_max_size=MAX_MESSAGE_BYTES, middlewares=[_json_errors, _auth])
    app[SERVER_KEY] = server
    app.router.add_get(vp.WS_PATH, _websocket)
    app.router.add_get("/api/health", _health)
    app.router.add_get("/api/cameras/{camera_id}/picture.jpg", _picture)
    app.router.add_get("/api/frames/{frame_id}.jpg", _frame)
    app.router.add_post("/api/render", _render)
    app.router.add_get("/api/crops/{crop_id}.jpg", _crop)
    app.router.add_get("/api/documents/{name}", _document)
    return app


def _error(status: int, key: str, message: str) -> web.Response:
    return web.json_response({"translation_key": key, "message": message}, status=status)


@web.middleware
async def _json_errors(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """Answer an unknown route or method in JSON too, as every other error is."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _error(404, "not_found", f"no such route: {request.method} {request.path}")
    except web.HTTPMethodNotAllowed as err:
        refused = _error(405, "not_found", f"{request.method} is not allowed on {request.path}")
        refused.headers["Allow"] = ",".join(sorted(err.allowed_methods))
        return refused


@web.middleware
async def _auth(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """Refuse every route but the health check and the WebSocket without the right token.

    The WebSocket authenticates inside the protocol (its first message), so that a refusal
    says why in the protocol's own words.
    """
    if request.path in ("/api/health", vp.WS_PATH):
        return await handler(request)
    server = request.app[SERVER_KEY]
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if not server.check_token(token):
        _LOGGER.warning("Refused an HTTP request from %s: wrong or no token", request.remote)
        return _error(401, "invalid_auth", "a valid token is required")
    return await handler(request)


async def _websocket(request: web.Request) -> web.WebSocketResponse:
    server = request.app[SERVER_KEY]
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    session = Session(server, ws, request.remote or "?")
    server.add_session(session)
    try:
        await session.run()
    finally:
        server.remove_session(session)
        if not ws.closed:
            await ws.close()
    return ws


async def _health(request: web.Request) -> web.Response:
    server = request.app[SERVER_KEY]
    return web.json_response(
        {
            "status": "ok",
            "version": server.settings.version,
            "protocol_version": vp.PROTOCOL_VERSION,
            "running": server.engine is not None,
        }
    )


def _max_width(request: web.Request) -> int | None:
    value = request.query.get("width")
    if value is None:
        return None
    try:
        width = int(value)
    except ValueError:
        return None
    return min(max(width, 64), 3840)


async def _picture(request: web.Request) -> web.Response:
    """Return a camera's latest analysed frame (masks blanked), boxes drawn with ?boxes=1.

    Boxes and track ids are never drawn for a camera in the anonymous-statistics mode.
    """
    server = request.app[SERVER_KEY]
    camera_id = request.match_info["camera_id"]
    engine = server.engine
    latest = engine.latest(camera_id) if engine is not None else None
    if latest is None or engine is None:
        return _error(404, "no_picture", f"camera {camera_id} has no analysed frame yet")
    boxes = request.query.get("boxes") == "1" and _shows_tracks(server, camera_id)
    zones = _zones(server, camera_id) if request.query.get("zones") == "1" else []
    # A Response is a mapping (empty here, so falsy): compare with None.
    if (refused := await check_frame_view(request, server, camera_id, boxes=boxes)) is not None:
        return refused
    jpeg = await asyncio.to_thread(
        partial(camera_picture, latest, boxes=boxes, max_width=_max_width(request), zones=zones)
    )
    return web.Response(body=jpeg, content_type="image/jpeg")


def _shows_tracks(server: VigilServer, camera_id: str) -> bool:
    """Return whether a camera's pictures may show its tracks (not in statistics mode)."""
    engine = server.engine
    camera = next((c for c in engine.config.cameras if c.id == camera_id), None) if engine else None
    if engine is None or camera is None:
        return False
    kinds = [detector.kind for detector in camera_detectors(camera)]
    return shows_tracks(engine.config.privacy.context, kinds)


def _zones(server: VigilServer, camera_id: str) -> list[tuple[str, Polygon, bool]]:
    """Return a camera's zones with whether each is occupied now, to draw on its picture."""
    engine = server.engine
    camera = next((c for c in engine.config.cameras if c.id == camera_id), None) if engine else None
    if camera is None:
        return []
    zones = []
    for zone in camera.zones:
        state = server.board.get(camera_id, zone.id, vp.ZoneState.KIND)
        occupied = isinstance(state, vp.ZoneState) and state.occupied
        zones.append((zone.name or zone.id, Polygon(zone.polygon), occupied))
    return zones


async def _frame(request: web.Request) -> web.Response:
    server = request.app[SERVER_KEY]
    image = server.frames.get(request.match_info["frame_id"])
    if image is None:
        return _error(404, "no_picture", "that frame is no longer kept")
    jpeg = await asyncio.to_thread(render, image, Drawing(max_width=_max_width(request)))
    return web.Response(body=jpeg, content_type="image/jpeg")


async def _render(request: web.Request) -> web.Response:
    """Draw shapes on a camera's picture or a probed frame: the forms' previews."""
    server = request.app[SERVER_KEY]
    try:
        body = await request.json(loads=json.loads)
        drawing = Drawing.parse(body)
    except (ValueError, RecursionError) as err:
        return _error(400, "invalid_request", f"the body is not a drawing: {err}")
    except vp.ProtocolError as err:
        return _error(400, "invalid_request", str(err))
    image = None
    if isinstance(frame_id := body.get("frame_id"), str):
        image = server.frames.get(frame_id)
    elif isinstance(camera_id := body.get("camera_id"), str) and server.engine is not None:
        latest = server.engine.latest(camera_id)
        image = latest.frame.image if latest is not None else None
    if image is None:
        return _error(404, "no_picture", "no picture to draw on (camera or frame unknown)")
    jpeg = await asyncio.to_thread(render, image, drawing)
    return web.Response(body=jpeg, content_type="image/jpeg")


async def _crop(request: web.Request) -> web.Response:
    """Return a kept plate crop to a named administrator, once the view is logged."""
    server = request.app[SERVER_KEY]
    engine = server.engine
    crop_id = request.match_info["crop_id"]
    crop = engine.anpr.crop(crop_id) if engine is not None else None
    if crop is None:
        return _error(404, "no_picture", "no such crop (it may have been purged)")
    if (refused := await check_crop_view(request, server, crop_id, crop.camera_id)) is not None:
        return refused
    return web.Response(body=crop.jpeg, content_type="image/jpeg")


async def _document(request: web.Request) -> web.Response:
    server = request.app[SERVER_KEY]
    name = request.match_info["name"]
    path = server.data.documents_dir / name
    if not _DOCUMENT.match(name):
        return _error(404, "no_document", "no such document")
    try:
        body = await asyncio.to_thread(path.read_bytes)
    except (FileNotFoundError, IsADirectoryError):
        return _error(404, "no_document", "no such document")
    content_type = {
        ".md": "text/markdown",
        ".pdf": "application/pdf",
        ".json": "application/json",
    }[path.suffix]
    return web.Response(body=body, content_type=content_type)

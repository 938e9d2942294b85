"""Who may look at a sensitive picture, and the access log entry each look writes.

A sensitive picture (`vigil_protocol.privacy.picture_is_sensitive`: every crop, and the
analysed frame outside a private home) is served only to a request that names an
administrator in the `X-Vigil-Actor` header, and only once the view is written to the access
log: a request that names nobody, or a non-administrator, is refused; a log that cannot be
written refuses the picture too (no picture without its trace).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from vigil_core.privacy.access_log import AccessAction, AccessLogError, Actor, Json
import vigil_protocol as vp
from vigil_protocol.privacy import ACTOR_HEADER, Artefact, picture_is_sensitive

if TYPE_CHECKING:
    from .app import VigilServer

_LOGGER = logging.getLogger(__name__)


def _refusal(status: int, key: str, message: str) -> web.Response:
    return web.json_response({"translation_key": key, "message": message}, status=status)


def _actor(request: web.Request) -> vp.Actor | web.Response:
    """Return the actor a request names, or the response refusing it."""
    text = request.headers.get(ACTOR_HEADER)
    if not text:
        return _refusal(403, "actor_required", "this picture is shown only to a named user")
    try:
        actor = vp.loads(vp.Actor, text)
    except vp.ProtocolError as err:
        return _refusal(400, "invalid_request", f"the {ACTOR_HEADER} header is not an actor: {err}")
    if not actor.is_admin or actor.origin != "user" or not actor.user_id:
        return _refusal(
            403, "admin_required", f"{actor.name or 'this caller'} is not an administrator"
        )
    return actor


async def log_view(
    request: web.Request,
    server: VigilServer,
    action: AccessAction,
    *,
    target: str,
    details: dict[str, Json],
) -> web.Response | None:
    """Write a view of a sensitive picture to the access log; return a refusal, or None."""
    actor = _actor(request)
    if isinstance(actor, web.Response):
        return actor
    log = server.access_log
    if log is None:
        return _refusal(503, "access_log_unavailable", "the access log is not open")
    who = Actor(user_id=actor.user_id, name=actor.name, is_admin=actor.is_admin)
    try:
        await asyncio.to_thread(log.append, who, action, target=target, details=details)
    except (AccessLogError, OSError) as err:
        _LOGGER.error("Refused a picture: its view cannot be logged (%s)", err)
        return _refusal(503, "access_log_unavailable", "the view cannot be logged")
    return None


async def check_frame_view(
    request: web.Request, server: VigilServer, camera_id: str, *, boxes: bool
) -> web.Response | None:
    """Log a view of a camera's analysed frame where it is sensitive; return a refusal, or None."""
    engine = server.engine
    context = engine.config.privacy.context if engine is not None else None
    if not picture_is_sensitive(Artefact.SNAPSHOTS, context):
        return None
    details: dict[str, Json] = {"picture": "analysed_frame", "boxes": boxes}
    return await log_view(
        request, server, AccessAction.SNAPSHOT_VIEW, target=camera_id, details=details
    )


async def check_crop_view(
    request: web.Request, server: VigilServer, crop_id: str, camera_id: str
) -> web.Response | None:
    """Log a view of a plate crop (always sensitive); return a refusal, or None."""
    details: dict[str, Json] = {"picture": "plate_crop", "camera": camera_id}
    return await log_view(request, server, AccessAction.CROP_VIEW, target=crop_id, details=details)

"""Helpers of the flow tests: server entries, form values, pictures, Frigate on a real stream."""

from __future__ import annotations

import copy
from http import HTTPStatus
import io
import re
from typing import Any
from urllib.parse import urlsplit

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState, ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from PIL import Image
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.vigil.const import (
    DOMAIN,
    SOURCE_FRIGATE,
    SOURCE_ONVIF,
    SOURCE_STREAM,
    SUBENTRY_CAMERA,
)
from tests.ha.conftest import ENTRY_ID, server_data, setup_entry, wait_until
from tests.support.frigate_api import load_config
from vigil_core.server import VigilServer

type Result = dict[str, Any]


def server_entry(
    server: VigilServer,
    *subentries: ConfigSubentryData,
    context: str = "private_home",
    entry_id: str = ENTRY_ID,
) -> MockConfigEntry:
    """Return a server entry for a running server, with these subentries."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Vigil test server",
        entry_id=entry_id,
        version=2,
        unique_id=server.server_id,
        data=server_data(server, context),
        subentries_data=list(subentries),
    )


async def loaded(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Set the entry up and check it is loaded (its server connected)."""
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    return entry


async def picture_ready(hass: HomeAssistant, server: VigilServer, camera_id: str) -> None:
    """Wait until the server has analysed a frame of the camera."""

    def ready() -> bool:
        return server.engine is not None and server.engine.latest(camera_id) is not None

    await wait_until(hass, ready, f"a picture of camera {camera_id}")


async def reloaded(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Let a reload (after a subentry was saved) finish; the entry must be loaded again."""
    await hass.async_block_till_done()
    await wait_until(hass, lambda: entry.state is ConfigEntryState.LOADED, "the entry reloaded")


async def start_camera_flow(hass: HomeAssistant, entry: MockConfigEntry, source: str) -> Result:
    """Start the camera flow and pick the kind of source; return its form."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CAMERA), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == [SOURCE_STREAM, SOURCE_ONVIF, SOURCE_FRIGATE]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"next_step_id": source}
    )
    assert result["type"] is FlowResultType.FORM
    return result


def suggested(result: Result) -> dict[str, Any]:
    """Return the values a form shows filled in."""
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


def options(result: Result, key: str) -> list[Any]:
    """Return the options of a form's select field."""
    for marker, selector in result["data_schema"].schema.items():
        if marker == key:
            found: list[Any] = selector.config["options"]
            return found
    raise AssertionError(f"no field {key}")


def picture_path(result: Result) -> str:
    """Return the address of the picture a form's description shows."""
    match = re.search(
        r"\((/api/vigil/preview/[^)]+)\)", result["description_placeholders"]["picture"]
    )
    assert match, result["description_placeholders"]
    return match.group(1)


async def fetch_picture(
    hass: HomeAssistant, client_factory: ClientSessionGenerator, result: Result
) -> Image.Image:
    """Return the picture a form shows, decoded."""
    client = await client_factory()
    response = await client.get(picture_path(result))
    assert response.status == HTTPStatus.OK
    assert response.content_type == "image/jpeg"
    body = await response.read()

    def decode() -> Image.Image:
        with Image.open(io.BytesIO(body)) as image:
            return image.convert("RGB")

    return await hass.async_add_executor_job(decode)


def region_mean(image: Image.Image, box: tuple[float, float, float, float]) -> float:
    """Return the mean grey level of a region given in 0–1 coordinates."""
    width, height = image.size
    left, top, right, bottom = box
    crop = image.crop(
        (round(left * width), round(top * height), round(right * width), round(bottom * height))
    ).convert("L")
    values = list(crop.getdata())
    return sum(values) / len(values)


def frigate_config(version: str, stream_url: str) -> dict[str, Any]:
    """Return a Frigate version's recorded config whose restreams are a real RTSP stream.

    go2rtc's RTSP port becomes the stream's, and every camera's detect input reads its mount,
    so each restream Vigil picks (Frigate's detect restream) is the real stream.
    """
    config = copy.deepcopy(load_config(version))
    parts = urlsplit(stream_url)
    mount = parts.path.lstrip("/")
    go2rtc = config.setdefault("go2rtc", {})
    go2rtc["rtsp"] = {"listen": f":{parts.port}"}
    go2rtc.setdefault("streams", {})[mount] = [stream_url]
    for camera in config["cameras"].values():
        for item in camera.get("ffmpeg", {}).get("inputs") or []:
            if str(item.get("path", "")).startswith("rtsp://127.0.0.1:8554/"):
                item["path"] = f"rtsp://127.0.0.1:{parts.port}/{mount}"
    return config

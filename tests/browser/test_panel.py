"""The Vigil panel in a real browser, on a real Home Assistant, server and camera.

A real `hass` process (onboarded through its REST API) with the integration, a real
`vigil-analytics serve` process running the real detector, and GStreamer's RTSP server
streaming PETS2009 `vtest.avi` in real time. Chromium (Debian's, driven by Playwright) logs
in through Home Assistant's login page, opens the panel from the sidebar's address, draws a
zone with clicks, drags a corner and saves; the subentry Home Assistant stores holds the
polygon drawn (within a pixel) and the zone's entities follow the people of the clip. A
self-crossing polygon is refused on the spot; a line across the people's path shows what it
would have counted on the last minutes of tracks. Screenshots are kept in the test's folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
import json
from pathlib import Path
import time
from typing import Any

import pytest

from tests.integration.conftest import RtspServerFactory
from tests.support.home_assistant import PASSWORD, USERNAME, HomeAssistant
from tests.support.serve import VigilServe
from tests.support.shared import media

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRANSLATIONS = Path(__file__).resolve().parents[2] / "custom_components" / "vigil" / "translations"
CROSSROADS = [(0.42, 0.36), (0.90, 0.20), (0.97, 0.50), (0.70, 0.62), (0.45, 0.52)]
"""The crossroads of the PETS2009 view, where people walk from the first second of the clip."""
DRAGGED = 3
DRAGGED_TO = (0.66, 0.68)
"""Corner 3 of the crossroads is dragged a little further down after drawing."""
BOW_TIE = [(0.10, 0.10), (0.40, 0.10), (0.10, 0.40), (0.40, 0.40)]
"""Clicked in this order, the fourth corner makes the edges cross."""
MIDDLE = [(0.50, 0.05), (0.50, 0.95)]
"""A line down the middle of the view, which people cross all the time."""
PANEL = "vigil-panel"


@dataclass
class Stack:
    """Home Assistant with a Vigil server entry and its camera on the clip."""

    hass: HomeAssistant
    serve: VigilServe
    entry_id: str
    camera_id: str


def wait_for[T](
    what: str, probe: Callable[[], T | None], limit_s: float = 90.0, every_s: float = 0.5
) -> T:
    """Poll `probe` until it returns something truthy (generous: the machine may be busy)."""
    deadline = time.monotonic() + limit_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {limit_s} s waiting for {what}")
        time.sleep(every_s)


def _subentries(hass: HomeAssistant, entry_id: str, kind: str) -> list[dict[str, Any]]:
    for entry in hass.stored_entries():
        if entry["entry_id"] == entry_id:
            return [s for s in entry.get("subentries", []) if s["subentry_type"] == kind]
    return []


@pytest.fixture
def stack(
    tmp_path: Path, models_dir: Path, rtsp_server: RtspServerFactory, socket_enabled: None
) -> Iterator[Stack]:
    """Start Home Assistant, the Vigil server and the camera; set them up through the flows."""
    hass = HomeAssistant(tmp_path / "home-assistant")
    hass.start()
    serve = None
    try:
        stream = rtsp_server(media("vtest.avi"), loops=3)
        serve = VigilServe(tmp_path / "vigil", models_dir)
        hass.wait_ready()
        hass.onboard()
        flow = "/api/config/config_entries/flow"
        created = hass.flow(
            flow,
            {"handler": "vigil"},
            {"host": "127.0.0.1", "port": serve.port, "token": serve.token, "ssl": False},
            {"deployment_context": "private_premises"},
        )
        assert created["type"] == "create_entry", created
        entry_id = wait_for(
            "the server entry",
            lambda: next(
                (e["entry_id"] for e in hass.stored_entries() if e["domain"] == "vigil"), None
            ),
        )
        added = hass.flow(
            "/api/config/config_entries/subentries/flow",
            {"handler": [entry_id, "camera"]},
            {"next_step_id": "stream"},
            {"name": "PETS2009", "url": stream.url},
        )
        assert added["type"] == "create_entry", added
        camera = wait_for("the camera", lambda: _subentries(hass, entry_id, "camera"))
        yield Stack(hass=hass, serve=serve, entry_id=entry_id, camera_id=camera[0]["subentry_id"])
    finally:
        hass.stop()
        if serve is not None:
            serve.stop()


class Panel:
    """The Vigil panel on a page: where things are, and the pointer on its picture."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def part(self, selector: str) -> Any:
        return self.page.locator(f"{PANEL} {selector}")

    def wait_picture(self) -> tuple[int, int]:
        self.part("#frame:not([hidden])").wait_for(timeout=60_000)
        self.page.wait_for_function(
            "el => el.naturalWidth > 0", arg=self.part("#picture").element_handle()
        )
        size = self.part("#picture").evaluate("img => [img.naturalWidth, img.naturalHeight]")
        return int(size[0]), int(size[1])

    def at(self, point: tuple[float, float]) -> tuple[float, float]:
        box = self.part("#overlay").bounding_box()
        return box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"]

    def click(self, point: tuple[float, float]) -> None:
        self.page.mouse.click(*self.at(point))

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        mouse = self.page.mouse
        mouse.move(*self.at(start))
        mouse.down()
        mouse.move(*self.at(end), steps=8)
        mouse.up()

    def corners(self) -> int:
        return int(self.part("circle.corner").count())

    def message(self) -> str:
        return str(self.part("#message").inner_text())


def _login(page: Any, hass: HomeAssistant) -> None:
    page.goto(hass.url)
    page.locator("input[name=username]").wait_for(timeout=60_000)
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/lovelace/**", timeout=60_000)


def _states_of(hass: HomeAssistant, prefix: str) -> dict[str, str]:
    return {k: v for k, v in hass.states().items() if k.startswith(prefix)}


def test_draw_save_and_replay_in_the_panel(stack: Stack, chromium: Any, screenshots: Path) -> None:
    hass = stack.hass
    english = json.loads((TRANSLATIONS / "en.json").read_text())["config_subentries"]
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    _login(page, hass)

    # The camera's device page links to the panel with the camera chosen.
    page.goto(f"{hass.url}/vigil?camera={stack.camera_id}")
    panel = Panel(page)
    width, height = panel.wait_picture()
    assert panel.part("#camera").input_value() == f"{stack.entry_id}|{stack.camera_id}"
    page.screenshot(path=screenshots / "01-panel.png")

    # A zone drawn with clicks, closed, named; one corner dragged; saved.
    panel.part("#new-zone").click()
    for point in CROSSROADS:
        panel.click(point)
    assert panel.corners() == len(CROSSROADS)
    panel.part("#finish").click()
    panel.part("#name").fill("Crossroads")
    panel.drag(CROSSROADS[DRAGGED], DRAGGED_TO)
    expected = [*CROSSROADS]
    expected[DRAGGED] = DRAGGED_TO
    page.mouse.move(*panel.at((0.2, 0.8)))
    assert "0.200" in panel.part("#pointer").inner_text()
    # While it is drawn, the zone is replayed on the recent tracks: entries and longest stay.
    wait_for("the zone's replay", lambda: panel.part("#replay").get_attribute("data-entries"))
    page.screenshot(path=screenshots / "02-zone-drawn.png")
    panel.part("#save").click()
    zones = wait_for("the zone subentry", lambda: _subentries(hass, stack.entry_id, "zone"))
    (zone,) = zones
    assert zone["title"] == "Crossroads"
    assert zone["data"]["camera"] == stack.camera_id
    saved = zone["data"]["polygon"]
    assert len(saved) == len(expected)
    for (x, y), (ex, ey) in zip(saved, expected, strict=True):
        assert abs(x - ex) * width <= 1.0 and abs(y - ey) * height <= 1.0, (saved, expected)
    assert zone["data"]["classes"] == ["person"]
    wait_for("the saved message", lambda: "Saved" in panel.message(), 30)
    page.screenshot(path=screenshots / "03-zone-saved.png")

    # The zone's entities appear, and follow the people walking through the crossroads.
    occupied = "binary_sensor.pets2009_crossroads_occupied"
    people = "sensor.pets2009_crossroads_people"
    seen: dict[str, set[str]] = {occupied: set(), people: set()}

    def changed() -> bool:
        for entity, state in _states_of(hass, "").items():
            if entity in seen and state not in ("unavailable", "unknown"):
                seen[entity].add(state)
        return "on" in seen[occupied] and len(seen[people]) >= 2

    wait_for(f"{occupied} on and {people} changing", changed, 120)

    # A polygon whose edges cross is refused at the click that would cross them.
    panel.part("#cancel").click()
    panel.part("#new-zone").click()
    for point in BOW_TIE:
        panel.click(point)
    assert panel.corners() == 3
    crossing = english["zone"]["error"]["polygon_self_intersecting"]
    assert crossing in panel.message()
    assert panel.part("#save").is_disabled()
    page.screenshot(path=screenshots / "04-self-crossing-refused.png")
    # A corner chosen and deleted, then the deletion undone.
    panel.click(BOW_TIE[2])
    panel.part("#delete-corner").click()
    assert panel.corners() == 2
    page.keyboard.press("Control+z")
    assert panel.corners() == 3

    # A line across the people's path: what it would have counted on the recent tracks.
    panel.part("#cancel").click()
    panel.part("#new-line").click()
    for point in MIDDLE:
        panel.click(point)
    panel.part("#name").fill("Middle")

    def counted() -> int:
        replay = panel.part("#replay")
        a_to_b = replay.get_attribute("data-a-to-b") or "0"
        b_to_a = replay.get_attribute("data-b-to-a") or "0"
        return int(a_to_b) + int(b_to_a)

    total = wait_for("a replay that counts crossings", counted, 90)
    assert total > 0
    assert "A → B" in panel.part("#replay").inner_text()
    page.screenshot(path=screenshots / "05-line-replay.png")

    # The same panel in the dark theme, in French, and on a phone with touch.
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=screenshots / "06-dark.png")
    state = context.storage_state()
    context.close()

    french = chromium.new_context(
        viewport={"width": 1280, "height": 860}, storage_state=state, locale="fr-FR"
    )
    page = french.new_page()
    page.add_init_script("localStorage.setItem('selectedLanguage', '\"fr\"')")
    page.goto(f"{hass.url}/vigil?camera={stack.camera_id}")
    panel = Panel(page)
    panel.wait_picture()
    assert panel.part("#new-zone").inner_text() == "Nouvelle zone"
    panel.part("#new-zone").click()
    for point in BOW_TIE:
        panel.click(point)
    french_strings = json.loads((TRANSLATIONS / "fr.json").read_text())["config_subentries"]
    assert french_strings["zone"]["error"]["polygon_self_intersecting"] in panel.message()
    page.screenshot(path=screenshots / "07-french.png")
    french.close()

    phone = chromium.new_context(
        viewport={"width": 390, "height": 844},
        storage_state=state,
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
    )
    page = phone.new_page()
    page.goto(f"{hass.url}/vigil?camera={stack.camera_id}")
    panel = Panel(page)
    panel.wait_picture()
    panel.part("#new-zone").tap()
    for point in [(0.2, 0.2), (0.8, 0.25), (0.5, 0.8)]:
        page.touchscreen.tap(*panel.at(point))
    assert panel.corners() == 3
    page.screenshot(path=screenshots / "08-phone.png", full_page=True)
    phone.close()

"""WS-Discovery: a probe on the loop finds the cameras that answer, and only them."""

from __future__ import annotations

import time

import pytest

from tests.support.ws_discovery import Answer, DiscoveryResponder
from vigil_core.feeds.ws_discovery import discover_onvif_cameras, parse_probe_matches

pytestmark = pytest.mark.usefixtures("socket_enabled")


async def test_probe_finds_the_cameras_that_answer() -> None:
    garage = Answer("HIKVISION DS-2CD2143G2-I", "DS-2CD2143G2-I", "127.0.0.1", 8000, "garage-1")
    gate = Answer("Reolink", "RLC-810A", "127.0.0.2", 80, "gate-1")
    async with DiscoveryResponder(garage, gate) as responder:
        started = time.monotonic()
        cameras = await discover_onvif_cameras(timeout_s=0.3, targets=[responder.target])

    assert time.monotonic() - started < 10  # ends by its 0.3 s timeout (generous: busy CI)
    assert responder.probes == 2
    assert [(c.endpoint, c.host, c.port, c.name, c.hardware) for c in cameras] == [
        ("urn:uuid:garage-1", "127.0.0.1", 8000, "HIKVISION DS-2CD2143G2-I", "DS-2CD2143G2-I"),
        ("urn:uuid:gate-1", "127.0.0.2", 80, "Reolink", "RLC-810A"),
    ]
    assert cameras[0].label == "HIKVISION DS-2CD2143G2-I (127.0.0.1:8000)"
    assert "onvif://www.onvif.org/Profile/Streaming" in cameras[0].scopes


async def test_silent_network_finds_nothing() -> None:
    async with DiscoveryResponder() as responder:
        cameras = await discover_onvif_cameras(timeout_s=0.1, targets=[responder.target])

    assert cameras == []


def test_reply_without_device_address_is_skipped() -> None:
    reply = (
        Answer("Cam", "X", "127.0.0.1", 80)
        .xml("urn:uuid:me")
        .replace(b"http://127.0.0.1:80/onvif/device_service", b"")
        .replace(b"http://[fe80::2a57:beff:fe00:1]/onvif/device_service", b"")
    )

    assert parse_probe_matches(reply, "urn:uuid:me") == []
    assert parse_probe_matches(reply.replace(b"urn:uuid:me", b"urn:uuid:else"), "urn:uuid:me") == []

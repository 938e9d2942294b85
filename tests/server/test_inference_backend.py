"""The server says where its detector runs: a configured inference server that is away."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from custom_components.vigil.client import VigilClient
from tests.server.conftest import ServerFactory
from tests.server.test_server import Pushes, vtest_config
from tests.support.kserve_server import free_port
import vigil_protocol as vp

type Connect = Callable[..., Awaitable[VigilClient]]


async def test_an_inference_server_that_is_away_shows_as_fallback(
    start_server: ServerFactory, connect: Connect
) -> None:
    """A closed port on 127.0.0.1: frames run on the local session, and the state says why."""
    url = f"http://127.0.0.1:{free_port()}"
    server = await start_server()
    client = await connect(server)
    pushes = Pushes(client)
    initial = await client.subscribe()
    assert initial[0].state == vp.ServerState()
    assert initial[0].state.inference is vp.InferenceBackend.LOCAL
    config = vtest_config("cam") | {
        "detector": {"backend": "kserve", "kserve": {"url": url, "retry_after_s": 60}}
    }
    await client.call(vp.ApplyConfig(config=config), vp.ConfigApplied)

    push = await pushes.wait(
        lambda p: (
            isinstance(p, vp.StatePush)
            and isinstance(p.update.state, vp.ServerState)
            and p.update.state.inference is vp.InferenceBackend.FALLBACK
        ),
        "the server state saying the detector runs locally in the inference server's place",
    )
    state = push.update.state
    assert state.inference_reason is not None and url in state.inference_reason
    assert state.inference_reason_key == "inference_server_unavailable"
    # Frames are still analysed (on the local session).
    await pushes.wait(lambda p: isinstance(p, vp.StatePush) and p.update.rule_id == "all", "zone")

    diagnostics = await client.call(vp.GetDiagnostics(), vp.Diagnostics)
    inference = diagnostics.data["inference"]
    assert isinstance(inference, dict)
    assert inference["backend"] == "kserve"
    assert inference["state"] == "fallback"
    assert inference["reason_key"] == "inference_server_unavailable"
    assert url not in str(diagnostics.data), "diagnostics name no URL or host"
    assert isinstance(inference["fallback_images"], int) and inference["fallback_images"] > 0


async def test_a_server_owned_inference_server_holds_whatever_a_client_applies(
    start_server: ServerFactory, connect: Connect
) -> None:
    """`serve --kserve-url`: a client's configuration (Home Assistant sends no backend) runs
    its detector on the server's inference server, here away, so on the local session."""
    url = f"http://127.0.0.1:{free_port()}"
    server = await start_server(kserve={"url": url})
    client = await connect(server)
    pushes = Pushes(client)
    await client.subscribe()
    config = vtest_config("cam") | {"detector": {"confidence": 0.4}}
    await client.call(vp.ApplyConfig(config=config), vp.ConfigApplied)
    push = await pushes.wait(
        lambda p: (
            isinstance(p, vp.StatePush)
            and isinstance(p.update.state, vp.ServerState)
            and p.update.state.inference is vp.InferenceBackend.FALLBACK
        ),
        "the detector running locally in the server-owned inference server's place",
    )
    assert url in (push.update.state.inference_reason or "")
    assert server.engine is not None
    detector = server.engine.config.detector
    assert detector.backend == "kserve" and detector.confidence == 0.4
    assert detector.kserve is not None and detector.kserve.url == url

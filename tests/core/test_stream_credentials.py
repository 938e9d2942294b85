"""Credentials in typed stream URLs: the server and Home Assistant split them the same way."""

from __future__ import annotations

import pytest

from vigil_core.redact import StreamAddress
from vigil_protocol.urls import ambiguous_at, split_credentials

CASES = [
    # typed, without credentials, username, password
    ("rtsp://admin:secret@cam.local:554/s", "rtsp://cam.local:554/s", "admin", "secret"),
    ("rtsp://admin:pa#ss@192.0.2.10/stream", "rtsp://192.0.2.10/stream", "admin", "pa#ss"),
    ("rtsp://admin:a/b?c@192.0.2.10:554/h264", "rtsp://192.0.2.10:554/h264", "admin", "a/b?c"),
    ("rtsp://admin:p@ss@192.0.2.10/live", "rtsp://192.0.2.10/live", "admin", "p@ss"),
    ("rtsp://viewer:p%40ss%3A%2F1@[::1]:8554/x", "rtsp://[::1]:8554/x", "viewer", "p@ss:/1"),
    ("http://admin@192.0.2.10/mjpeg", "http://192.0.2.10/mjpeg", "admin", None),
    ("  rtsp://192.0.2.10/a?channel=1  ", "rtsp://192.0.2.10/a?channel=1", None, None),
    ("rtsp://192.0.2.10:554/path@x", "rtsp://192.0.2.10:554/path@x", None, None),
    ("/media/clip.mp4", "/media/clip.mp4", None, None),
]


@pytest.mark.parametrize(("typed", "url", "username", "password"), CASES)
def test_credentials_come_out_of_the_url(
    typed: str, url: str, username: str | None, password: str | None
) -> None:
    assert split_credentials(typed) == (url, username, password)


@pytest.mark.parametrize(("typed", "url", "username", "password"), CASES)
def test_the_server_reads_the_same_credentials(
    typed: str, url: str, username: str | None, password: str | None
) -> None:
    address = StreamAddress.parse(typed)
    assert (address.username, address.password) == (username, password)
    assert address.url == url.strip()


def test_host_port_path_with_an_at_reads_two_ways() -> None:
    # user 192.0.2.10, password "554/a"? Or the host's port 554 and a path holding '@'?
    assert ambiguous_at("192.0.2.10:554/a@b")
    assert not ambiguous_at("192.0.2.10:554/a")
    assert not ambiguous_at("192.0.2.10/a@b")  # no port: a path with an '@'
    assert split_credentials("rtsp://192.0.2.10:554/a@b")[1:] == (None, None)

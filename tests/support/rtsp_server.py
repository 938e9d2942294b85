"""Serve an H.264 file or a live test pattern over RTSP on 127.0.0.1 for tests.

Runs under Debian's /usr/bin/python3 (it needs PyGObject and GstRtspServer, which the test
venv does not have). Prints ``READY rtsp://127.0.0.1:PORT/MOUNT`` on stdout once the socket
listens, then serves until SIGTERM/SIGINT. Start it through tests/support/rtsp.py.

With ``--mounts N`` one server serves N cameras at MOUNT0 … MOUNT{N-1}, each from the next
``--file`` in turn (`vigil-analytics bench e2e` uses it for the network path).
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

ROLE = "user"
# SPS/PPS go in front of every keyframe (a client may join mid-stream) from h264parse, which
# inserts them once per access unit. rtph264pay's own config-interval=-1 inserts them before
# every IDR *slice*: with a multi-slice encoding (x264's zerolatency tune, many cameras) each
# slice then starts a new picture for the decoder, and every frame of the stream is smeared.
_H264_TO_RTP = "h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96"


def _file_launch(path: str) -> str:
    # GStreamer's launch syntax takes a quoted location; tests only pass tmp or shared paths.
    location = path.replace("\\", "\\\\").replace('"', '\\"')
    return f'( filesrc location="{location}" ! qtdemux ! {_H264_TO_RTP} )'


def _pattern_launch(width: int, height: int, fps: int) -> str:
    return (
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},"
        f"framerate={fps}/1 ! videoconvert ! x264enc tune=zerolatency sliced-threads=false "
        f"speed-preset=ultrafast key-int-max={fps * 2} ! video/x-h264,profile=baseline "
        f"! {_H264_TO_RTP} )"
    )


def _add_auth(
    server: GstRtspServer.RTSPServer,
    factory: GstRtspServer.RTSPMediaFactory,
    user: str,
    password: str,
) -> None:
    """Require HTTP basic credentials for every request."""
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", ROLE)
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_role_from_structure(
        Gst.Structure.new_from_string(
            f"{ROLE}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
    )
    factory.set_permissions(permissions)


def main() -> int:
    """Parse arguments, start the server and run the main loop."""
    parser = argparse.ArgumentParser(description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--file", action="append", help="H.264 mp4 file to stream (paced in real time); repeatable"
    )
    source.add_argument("--pattern", action="store_true", help="live videotestsrc pattern")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--mount", default="/stream")
    parser.add_argument("--mounts", type=int, default=0, help="serve N mounts MOUNT0..MOUNT{N-1}")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    files = args.file or []
    mounts = (
        [(args.mount, 0)]
        if args.mounts <= 0
        else [(f"{args.mount}{index}", index) for index in range(args.mounts)]
    )
    for mount, index in mounts:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            _file_launch(files[index % len(files)])
            if files
            else _pattern_launch(args.width, args.height, args.fps)
        )
        # One pipeline per client: a file restarts from its beginning for each connection.
        factory.set_shared(False)
        if args.user is not None:
            _add_auth(server, factory, args.user, args.password or "")
        server.get_mount_points().add_factory(mount, factory)

    if server.attach(None) == 0:
        print(f"ERROR cannot listen on 127.0.0.1:{args.port}", flush=True)
        return 1
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, loop.quit)
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}{args.mount}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

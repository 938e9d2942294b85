"""The `vigil-analytics` command: demo, run, serve, token, bench, models, schema."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
import contextlib
from importlib.metadata import entry_points
import json
import logging
from pathlib import Path
import signal
import sys
from typing import TYPE_CHECKING, Any, TextIO

from .config import EngineConfig
from .config.file import load_config
from .errors import ConfigInvalid, UnknownModel, VigilError

if TYPE_CHECKING:
    from .engine import Engine

_LOGGER = logging.getLogger("vigil_core")

PROG = "vigil-analytics"
"""The command's name: `vigil` alone belongs to an unrelated project on PyPI."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,  # a library may have configured the root logger on import (onvif does)
    )
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except VigilError as err:
        fields = err.fields if isinstance(err, ConfigInvalid) else ()
        if len(fields) > 1:  # every error at once, one line each: no fix-and-retry rounds
            lines = "".join(f"\n  {field}" for field in fields)
            print(f"{PROG}: error: invalid config, {len(fields)} errors:{lines}", file=sys.stderr)
        else:
            print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_USAGE if isinstance(err, (ConfigInvalid, UnknownModel)) else EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(title="commands")

    run = sub.add_parser("run", help="run cameras from a YAML config until interrupted")
    run.add_argument(
        "--config", type=Path, required=True, help="YAML file (see `vigil-analytics schema`)"
    )
    run.add_argument(
        "--events", type=Path, help="write events to this JSON-lines file (default stdout)"
    )
    run.add_argument(
        "--realtime", action="store_true", help="pace file sources at their native speed"
    )
    run.set_defaults(handler=_cmd_run)

    models = sub.add_parser("models", help="list, verify or download the registry's models")
    models.add_argument("action", choices=["list", "verify", "download"])
    models.add_argument("names", nargs="*", help="model names (default: all)")
    models.add_argument("--models-dir", type=Path, help="folder holding the model files")
    models.set_defaults(handler=_cmd_models)

    schema = sub.add_parser("schema", help="print the JSON Schema of the config file")
    schema.set_defaults(handler=_cmd_schema)

    from .server.main import add_commands  # noqa: PLC0415 - serve and token

    add_commands(sub)
    _add_plugin_commands(sub)
    return parser


PLUGIN_GROUP = "vigil_analytics.commands"
"""Entry points adding commands: vigil-tools adds `demo` and `bench` (tools/pyproject.toml)."""
TOOLS_COMMANDS = {
    "demo": "run the pipeline on the embedded demo clip (vtest.avi)",
    "bench": "measure decode, inference, end-to-end, tracking and accuracy figures",
}


def _add_plugin_commands(sub: Any) -> None:
    """Add the commands other distributions register; say where the tools' commands come from."""
    for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        entry.load()(sub)
    for name, text in TOOLS_COMMANDS.items():
        if name not in sub.choices:
            missing = sub.add_parser(name, help=f"{text} (needs vigil-tools)", add_help=False)
            missing.add_argument("rest", nargs=argparse.REMAINDER)
            missing.set_defaults(handler=_tools_missing)


def _tools_missing(_args: argparse.Namespace) -> int:
    raise VigilError(
        "the demo and the benches come with the vigil-tools distribution, which is not "
        "installed here: pip install vigil-tools (a server image leaves it out on purpose)"
    )


def _cmd_schema(_args: argparse.Namespace) -> int:
    print(json.dumps(EngineConfig.json_schema(), indent=2))
    return EXIT_OK


def _cmd_models(args: argparse.Namespace) -> int:
    from .inference.loader import resolve_model  # noqa: PLC0415
    from .inference.registry import default_registry  # noqa: PLC0415

    registry = default_registry()
    names = args.names or list(registry.names)
    failed = 0
    for name in names:
        if args.action == "list":
            spec = registry.get(name)
            print(
                f"{spec.name:36} {spec.role:18} {spec.licence:14} {spec.url or '(no public URL)'}"
            )
            continue
        try:
            path = resolve_model(
                name, models_dir=args.models_dir, allow_download=args.action == "download"
            )
            print(f"ok      {name}: {path}")
        except VigilError as err:
            failed += 1
            print(f"failed  {err}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.realtime:
        config = config.model_copy(
            update={
                "cameras": [
                    cam.model_copy(
                        update={"source": cam.source.model_copy(update={"realtime": True})}
                    )
                    for cam in config.cameras
                ]
            }
        )
    with open_events(args.events) as out:
        failures = asyncio.run(run_engine(config, out))
    return EXIT_FAILED if failures else EXIT_OK


@contextlib.contextmanager
def open_events(path: Path | None, *, tee: bool = False) -> Any:
    """Yield the streams events are written to: stdout, or a JSON-lines file (and stdout)."""
    if path is None:
        yield [sys.stdout]
        return
    with path.open("w", encoding="utf-8") as handle:
        yield [handle, sys.stdout] if tee else [handle]


async def run_engine(
    config: EngineConfig,
    outputs: Sequence[TextIO],
    *,
    on_engine: Callable[[Engine], None] | None = None,
) -> list[str]:
    """Run the engine until every file source ends or Ctrl-C; return per-camera failures."""
    from .engine import Engine  # noqa: PLC0415 - the engine loads only for the commands that run it
    from .events.model import RuleEvent, SourceState, SourceStateEvent  # noqa: PLC0415

    engine = Engine(config)
    failures: list[str] = []

    live = {cam.id for cam in config.cameras if not cam.source.is_file}
    reported: set[str] = set()

    def write(event: Any) -> None:
        if not isinstance(event, RuleEvent | SourceStateEvent):
            return  # states are the server's business; the event stream stays what happened
        line = json.dumps(event.as_dict(), separators=(",", ":"))
        for out in outputs:
            print(line, file=out, flush=True)
        if not isinstance(event, SourceStateEvent) or event.camera_id not in live:
            return
        # Say once that a live camera is down; retries stay in the event stream.
        if event.state is SourceState.OFFLINE and event.camera_id not in reported:
            reported.add(event.camera_id)
            print(f"{PROG}: camera {event.camera_id} is offline: {event.reason}", file=sys.stderr)
        elif event.state is SourceState.ONLINE:
            reported.discard(event.camera_id)

    unsubscribe = engine.bus.subscribe(write)
    if on_engine is not None:
        on_engine(engine)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await engine.start()
        done = asyncio.ensure_future(engine.wait_finished())
        interrupted = asyncio.ensure_future(stop.wait())
        await asyncio.wait({done, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        for task in (done, interrupted):
            task.cancel()
        for camera_id in engine.camera_ids:
            status = engine.status(camera_id)
            if status.error:
                failures.append(status.error)
    finally:
        await engine.stop()
        unsubscribe()
    for failure in failures:
        print(f"{PROG}: error: {failure}", file=sys.stderr)
    return failures


if __name__ == "__main__":
    sys.exit(main())

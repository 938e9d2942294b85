"""The tools' commands, added to `vigil-analytics` by the `vigil_analytics.commands` entry point.

`vigil-analytics demo` runs the engine over the embedded demo clip and model; `vigil-analytics
bench …` prints the speed and accuracy figures (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
import sys
from typing import Any

from vigil_core.cli import EXIT_FAILED, EXIT_OK, open_events, run_engine
from vigil_core.errors import VigilError


def add_commands(sub: Any) -> None:
    """Add `demo` and `bench` to the command line's subcommands."""
    demo = sub.add_parser("demo", help="run the pipeline on the embedded demo clip (vtest.avi)")
    demo.add_argument(
        "--out", type=Path, default=Path("vigil-demo"), help="folder for the annotated image"
    )
    demo.add_argument("--events", type=Path, help="also write the events to this JSON-lines file")
    demo.add_argument("--models-dir", type=Path, help="folder holding the model files")
    demo.add_argument("--no-download", action="store_true", help="never download the clip or model")
    demo.set_defaults(handler=_cmd_demo)

    bench = sub.add_parser(
        "bench", help="measure decode, inference, end-to-end and tracking figures"
    )
    bench.add_argument(
        "sections", nargs="*", help="sections to run (default: all); clips may follow `tamper`"
    )
    bench.add_argument("--json", action="store_true", help="print machine-readable JSON")
    bench.add_argument("--quick", action="store_true", help="shorter runs (smoke check)")
    bench.add_argument("--models-dir", type=Path, help="folder holding the model files")
    bench.add_argument("--fps", type=float, default=5.0, help="tamper: analysed frames per second")
    bench.add_argument("--width", type=int, default=640, help="tamper: analysis width in pixels")
    bench.add_argument(
        "--mask",
        action="append",
        default=[],
        metavar="[CLIP=]X1,Y1,X2,Y2",
        help="tamper: leave out a relative rectangle (burned-in label) on CLIP or every clip",
    )
    bench.add_argument(
        "--cameras", default="", help="e2e: camera counts to run, e.g. 8,16,24 (default: 1-32)"
    )
    bench.add_argument("--seconds", type=float, help="e2e: measured seconds per run")
    bench.add_argument(
        "--no-network", action="store_true", help="e2e: paced files only (no RTSP server)"
    )
    bench.add_argument(
        "--detector-input",
        default="",
        help="tracking, rules: detector input fits side by side, e.g. square,aspect "
        "(default: both for tracking, the config's for rules)",
    )
    bench.add_argument("--clip", type=Path, help="rules: run this clip instead of vtest")
    bench.add_argument("--geometry", type=Path, help="rules: YAML camera (zones, rules) for --clip")
    bench.add_argument("--truth", type=Path, help="rules: MOT-style ground truth csv for --clip")
    bench.add_argument("--countries", default="", help="anpr: expected plate countries, e.g. fr,de")
    bench.add_argument(
        "--ocr", help="anpr: cct, rapidocr or cct+rapidocr (default: with rapidocr if installed)"
    )
    bench.add_argument(
        "--no-refine", action="store_true", help="anpr: never re-detect uncertain plates"
    )
    bench.add_argument(
        "--no-warmup", action="store_true", help="anpr: cold start only (no second pass)"
    )
    bench.add_argument("--failures", action="store_true", help="anpr: list the photos read wrong")
    bench.add_argument(
        "--chains",
        default="default,agpl,plain",
        help="anpr: chains side by side: default (licence-clean), agpl, plain (off the shelf), "
        "tiled (the licence-clean chain before its window search)",
    )
    bench.add_argument(
        "--no-rendered", action="store_true", help="anpr: leave out the rendered-plates row"
    )
    bench.add_argument("--kserve-url", help="remote: a KServe v2 / Triton server's base URL")
    bench.add_argument("--kserve-model", help="remote: its model name (default: yolox_nano)")
    bench.add_argument(
        "--kserve-pid", type=int, help="remote: the server's process id (its CPU is read)"
    )
    bench.set_defaults(handler=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from vigil_tools.bench import E2eOptions, RemoteBenchOptions, TamperBenchOptions, run_bench  # noqa: PLC0415

    if args.sections[:1] == ["anpr"]:  # `vigil-analytics bench anpr DIR...`: labelled plate photos
        from vigil_tools.eval.anpr import run_anpr_bench  # noqa: PLC0415

        return run_anpr_bench(
            args.sections[1:],
            as_json=args.json,
            models_dir=args.models_dir,
            countries=[c.strip() for c in args.countries.split(",") if c.strip()],
            ocr=args.ocr,
            refine=not args.no_refine,
            warmup=not args.no_warmup,
            quick=args.quick,
            failures=args.failures,
            chains=[c.strip() for c in args.chains.split(",") if c.strip()],
            rendered=not args.no_rendered,
        )
    from vigil_tools.eval.rules import RulesBenchOptions  # noqa: PLC0415

    tamper = TamperBenchOptions(fps=args.fps, width=args.width, masks=tuple(args.mask))
    fits = tuple(f.strip() for f in args.detector_input.split(",") if f.strip())
    if any(fit not in ("square", "aspect") for fit in fits):
        raise VigilError(
            f"--detector-input takes square and/or aspect, not '{args.detector_input}'"
        )
    rules = RulesBenchOptions(
        clip=args.clip,
        geometry=args.geometry,
        truth=args.truth,
        fits=fits,
    )
    try:
        counts = tuple(int(c) for c in args.cameras.split(",") if c.strip())
    except ValueError:
        raise VigilError(f"--cameras takes counts like 8,16,24, not '{args.cameras}'") from None
    e2e = E2eOptions(cameras=counts, seconds=args.seconds, network=not args.no_network)
    return run_bench(
        args.sections,
        as_json=args.json,
        quick=args.quick,
        models_dir=args.models_dir,
        tamper=tamper,
        rules=rules,
        e2e=e2e,
        fits=fits or ("square", "aspect"),
        remote=RemoteBenchOptions(args.kserve_url, args.kserve_model, args.kserve_pid),
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    from vigil_tools.demo import DemoRecorder, demo_config  # noqa: PLC0415

    config = demo_config(models_dir=args.models_dir, allow_download=not args.no_download)
    recorder = DemoRecorder(args.out)
    with open_events(args.events, tee=True) as out:
        failures = asyncio.run(run_engine(config, out, on_engine=recorder.attach))
    path = recorder.write()
    print(
        f"vigil-analytics demo: {recorder.events} events; annotated frame: {path or 'none'}",
        file=sys.stderr,
    )
    return EXIT_FAILED if failures else EXIT_OK

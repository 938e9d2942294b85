"""Per-stage CPU accounting: what each stage is charged, and that the engine's figures add up."""

from __future__ import annotations

import asyncio
from pathlib import Path
import time

import av

from vigil_core.config import CameraSpec, EngineConfig, SourceSpec
from vigil_core.costs import NO_LAPS, REQUIRED_STAGES, StageCost, StageCosts, difference, merge
from vigil_core.engine import Engine
from vigil_tools.bench import _account, _jain, _machine_cpu_ticks, _stage_matrix, _steal_share


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_laps_charge_the_threads_cpu_time_and_never_its_waits() -> None:
    costs = StageCosts()
    laps = costs.laps()
    _spin(0.03)
    laps("busy")
    time.sleep(0.05)
    laps("waiting")
    time.sleep(0.05)
    laps.restart()
    laps("nothing", 0)
    table = costs.snapshot()
    assert table["busy"].calls == 1 and table["busy"].cpu_s >= 0.03
    assert table["waiting"].cpu_s < 0.01
    assert table["nothing"] == StageCost(0, table["nothing"].cpu_s)
    assert table["nothing"].cpu_s < 0.01
    NO_LAPS("busy")  # callers that do not measure charge nothing anywhere


def test_tables_add_and_subtract_stage_by_stage() -> None:
    a = {"decode": StageCost(10, 0.01), "motion": StageCost(2, 0.002)}
    b = {"decode": StageCost(5, 0.02)}
    total = merge([a, b])
    assert total["decode"].calls == 15 and abs(total["decode"].cpu_s - 0.03) < 1e-12
    assert total["motion"] == a["motion"]
    back = difference(total, b)
    assert back["decode"].calls == 10 and abs(back["decode"].cpu_s - 0.01) < 1e-12
    assert StageCost(4, 0.01).ms_per_call == 2.5 and StageCost(0, 0.0).ms_per_call == 0.0


def test_the_bench_credits_every_stage_once_and_derives_the_bound() -> None:
    costs = {
        "decode": StageCost(500, 0.2),
        "inference": StageCost(70, 1.0),
        "tamper": StageCost(100, 0.1),
        "handoff": StageCost(170, 0.05),
    }
    report = _account(costs, helpers_s=0.15, cpu_s=1.6, elapsed=1.0, analysed=100)
    required = 0.2 + 1.0 + 0.1 + 0.15  # the FFmpeg helper threads decode too
    assert report["accounted"] == round(required / 1.6, 3)
    assert report["overhead"] == round(0.05 / 1.6, 3)
    assert abs(report["accounted"] + report["overhead"] + report["unmeasured"] - 1.0) < 0.002
    assert report["required_ms_per_frame"] == round(1000 * required / 100, 2)
    assert report["stages"]["decode_threads"]["calls_per_s"] == 500  # one per decoded frame
    assert report["stages"]["handoff"]["kind"] == "overhead"
    assert next(iter(report["stages"])) == "inference"  # costliest first
    matrix = _stage_matrix([{"cameras": 8, "source": "file", **report}])
    assert [line["stage"] for line in matrix][-1] == "= accounted"
    assert all(set(line) == {"stage", "kind", "8 file"} for line in matrix)


def test_fairness_index_is_one_when_every_camera_gets_the_same() -> None:
    assert _jain([5.0, 5.0, 5.0]) == 1.0
    assert abs(_jain([5.0, 0.0, 0.0, 0.0]) - 0.25) < 1e-9
    assert _jain([0.0, 0.0]) == 1.0


async def test_the_engines_stage_counts_match_what_the_camera_did(
    models_dir: Path, vtest_path: Path
) -> None:
    with av.open(str(vtest_path)) as container:
        frames_in_clip = sum(1 for _ in container.decode(video=0))
    camera = CameraSpec(id="vtest", source=SourceSpec(url=str(vtest_path)), fps=2.0)
    engine = Engine(EngineConfig(models_dir=str(models_dir), cameras=[camera]))
    # Counted from the engine's start: under load the first frames decode before any
    # snapshot taken after `start` could see them (a frame short, once, with both cores busy).
    before = engine.stage_costs()
    await engine.start()
    cpu0 = time.process_time()
    try:
        await asyncio.wait_for(engine.wait_finished(), 120)
        costs = difference(engine.stage_costs(), before)
        cpu = time.process_time() - cpu0
        stats = engine.pipeline("vtest").stats
    finally:
        await engine.stop()
    analysed, inferred = stats.frames_analysed, stats.frames_inferred
    assert costs["decode"].calls == frames_in_clip
    assert costs["convert"].calls == analysed  # a file is analysed frame by frame
    for stage in ("privacy", "tamper", "motion", "rules", "publish"):
        assert costs[stage].calls == analysed, stage
    for stage in ("preprocess", "inference", "postprocess", "tracker"):
        assert costs[stage].calls == inferred, stage
    assert 0 < inferred <= analysed
    assert all(cost.cpu_s >= 0 for cost in costs.values())
    measured = sum(cost.cpu_s for cost in costs.values())
    # Every stage ran on a thread of this process inside the window: together no more than it.
    assert measured <= cpu * 1.02 + 0.05
    assert set(REQUIRED_STAGES) - {"track_stages"} <= set(costs)


def test_the_steal_share_is_the_hypervisors_part_of_the_machines_cpu_time() -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice, in ticks
    before = [100, 0, 10, 500, 0, 0, 0, 40, 0, 0]
    after = [160, 0, 20, 530, 0, 0, 0, 100, 0, 0]
    assert _steal_share(before, after) == 0.375  # 60 of 160 ticks
    assert _steal_share(before, before) is None
    assert _steal_share(None, after) is None
    ticks = _machine_cpu_ticks()
    if ticks is not None:  # Linux
        assert len(ticks) >= 8 and all(value >= 0 for value in ticks)

"""The engine's house plan: layers without cycles or upward imports, and no Home Assistant.

The layers are drawn in docs/architecture.md; LAYERS below is the same list, top to bottom.
"""

from __future__ import annotations

import subprocess
import sys

import grimp
import pytest

import vigil_core

LAYERS: tuple[str | set[str], ...] = (
    "cli",
    "server",
    "engine",
    "feeds",
    {"anpr", "pipeline", "compliance"},
    {"health", "inference", "motion", "sources", "tracking"},
    "config",
    "rules",
    {"privacy", "annotate", "decode"},
    "specs",
    {"geometry", "plates", "stages", "store"},
    {"errors", "events", "types", "costs", "load", "log_limit", "redact"},
)
"""vigil_core's packages and top-level modules, top to bottom: a layer imports only the layers
below it; the names of one set are independent of each other."""

FORBIDDEN = ("homeassistant", "custom_components")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # No cache: a cache keyed on file times can miss a module edited twice in a second.
    return grimp.build_graph(
        "vigil_core",
        "vigil_protocol",
        "vigil_tools",
        include_external_packages=True,
        cache_dir=None,
    )


@pytest.mark.parametrize("forbidden", FORBIDDEN)
def test_core_never_imports_home_assistant(graph: grimp.ImportGraph, forbidden: str) -> None:
    """Function-level (lazy) imports count too: grimp reads every import statement."""
    if forbidden not in graph.modules:
        return  # nothing imports it at all
    importers = sorted(graph.find_modules_that_directly_import(forbidden))
    assert importers == [], f"{', '.join(importers)} import {forbidden}"


def test_the_graph_sees_lazy_imports(graph: grimp.ImportGraph) -> None:
    """A function-level import is in the graph, so the check above would see one of HA's."""
    # The tools' cli.py imports the bench lazily (inside _cmd_bench).
    assert graph.direct_import_exists(importer="vigil_tools.cli", imported="vigil_tools.bench")


def test_the_engine_never_imports_its_tools(graph: grimp.ImportGraph) -> None:
    """The demo, benches and evaluations depend on the engine, never the other way round."""
    importers = {
        module
        for module in graph.find_downstream_modules("vigil_tools", as_package=True)
        if not module.startswith("vigil_tools")
    }
    assert importers == set()


def test_every_module_of_the_engine_sits_in_a_layer(graph: grimp.ImportGraph) -> None:
    named = {name for layer in LAYERS for name in ([layer] if isinstance(layer, str) else layer)}
    children = {m.split(".")[1] for m in graph.modules if m.startswith("vigil_core.")}
    assert children == named, "add the new package or module to LAYERS and the architecture doc"


def test_no_import_goes_up_a_layer_or_across_a_layer(graph: grimp.ImportGraph) -> None:
    illegal = graph.find_illegal_dependencies_for_layers(layers=LAYERS, containers={"vigil_core"})
    chains = sorted(
        f"{dep.importer} -> {dep.imported}: "
        + "; ".join(" -> ".join(route.heads | route.middle | route.tails) for route in dep.routes)
        for dep in illegal
    )
    assert chains == []


def test_no_package_of_the_engine_is_in_an_import_cycle_with_another(
    graph: grimp.ImportGraph,
) -> None:
    packages = sorted({m.split(".")[1] for m in graph.modules if m.startswith("vigil_core.")})
    cycles = [
        (a, b)
        for i, a in enumerate(packages)
        for b in packages[i + 1 :]
        if graph.chain_exists(f"vigil_core.{a}", f"vigil_core.{b}", as_packages=True)
        and graph.chain_exists(f"vigil_core.{b}", f"vigil_core.{a}", as_packages=True)
    ]
    assert cycles == []


def test_the_public_face_names_load_on_use_without_loading_the_runtime() -> None:
    for name in vigil_core.__all__:
        assert getattr(vigil_core, name) is not None, name
    probe = (
        "import sys, vigil_core, vigil_core.errors, vigil_core.cli; "
        "print(sorted(m for m in ('onnxruntime', 'av', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"

"""The engine stands alone: nothing under core/ (or protocol/) imports Home Assistant."""

from __future__ import annotations

import grimp
import pytest

FORBIDDEN = ("homeassistant", "custom_components")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(
        "vigil_core", "vigil_protocol", "vigil_tools", include_external_packages=True
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

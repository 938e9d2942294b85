"""Vigil's measuring tools: the demo (`demo`), the benches (`bench`), the evaluations (`eval`).

Kept out of the engine a server runs: they depend on `vigil_core`, never the other way.
"""

"""Plate text: pure string rules below the configuration.

Normalising what an OCR model reads, the countries' plate formats and confusable characters
(`normalize`), and watchlist patterns, their tolerant matching and expiry (`watchlist`). No
model, no image: the configuration validates plates and patterns with these, and the plate
reader (`vigil_core.anpr`) and the Frigate feed use them at run time.
"""

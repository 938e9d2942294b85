"""Plane geometry on relative (0–1) and pixel coordinates."""

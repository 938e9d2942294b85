"""Vigil's engine: shared ONNX video analytics over the cameras you already own."""

"""Camera-side event feeds: a camera's or an NVR's own analytics and detections.

ONVIF events and device discovery (`onvif*`, `ws_discovery`), Frigate's API, MQTT events and
tracks (`frigate*`). Frames come from `vigil_core.sources`; these feeds bring what the camera
or the NVR already found, through the `EventSource` seam (`event_source`).
"""

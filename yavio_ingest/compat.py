"""Widget data sent the original widget's way: inside `metadata` instead of the typed fields.

The original TypeScript widget put viewport, device and interaction data in `metadata`, leaving
the typed columns empty. When a typed field is absent, its value is lifted from `metadata` (under
the original name); a value that would be invalid in the typed field is simply left where it is.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from yavio_sdk.events import WidgetEvent

# metadata name (the original widget's) -> typed field
_LIFTED = {
    "viewport_width": "viewport_width",
    "viewport_height": "viewport_height",
    "device_pixel_ratio": "device_pixel_ratio",
    "touch_support": "device_touch",
    "device_touch": "device_touch",
    "connection_type": "connection_type",
    "click_count": "click_count",
    "scroll_depth_pct": "scroll_depth_pct",
    "field_name": "field_name",
    "from_view": "nav_from",
    "to_view": "nav_to",
    "visible_duration_ms": "visible_duration_ms",
    "load_time_ms": "load_time_ms",
}


@functools.cache
def _field_types() -> dict[str, Any]:
    return {f.name: f.type for f in msgspec.structs.fields(WidgetEvent)}


def lift_widget_fields(event: Any) -> None:
    """Fill absent typed fields of a `widget_*` event from its metadata, in place."""
    if not isinstance(event, WidgetEvent) or not event.metadata:
        return
    types = _field_types()
    for source, field in _LIFTED.items():
        if source not in event.metadata or getattr(event, field) is not None:
            continue
        try:
            value = msgspec.convert(event.metadata[source], types[field])
        except msgspec.ValidationError:
            continue
        if isinstance(value, bool):  # the 0/1 fields store booleans as numbers
            value = int(value)
        setattr(event, field, value)

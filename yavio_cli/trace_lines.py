"""How one event of a trace reads on one line, in `yavio trace` and in the dashboard's trace
screen alike."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

__all__ = ["event_line"]


def event_line(event: dict[str, Any]) -> str:
    """One event of a trace on one line (Rich markup): time, source, type and step, name,
    latency, conversion value, error."""
    parts = [f"[dim]{event['timestamp'][11:23]}[/]", f"[cyan]{event['source']:6}[/]"]
    kind = event["type"]
    if event.get("stepSequence") is not None:
        kind = f"{kind} #{event['stepSequence']}"
    parts.append(escape(kind))
    if event.get("name"):
        parts.append(f"[bold]{escape(event['name'])}[/]")
    if event.get("latencyMs") is not None:
        parts.append(f"{event['latencyMs']:.1f} ms")
    if event.get("conversionValue") is not None:
        currency = escape(event.get("conversionCurrency") or "")
        parts.append(f"{event['conversionValue']:.2f} {currency}")
    if event.get("status") == "error":
        detail = event.get("errorCategory") or "error"
        if event.get("errorMessage"):
            detail += f": {event['errorMessage']}"
        parts.append(f"[red]{escape(detail)}[/]")
    return "  ".join(parts)

import type { CaptureContext } from "../events";

interface NetworkInformation {
  effectiveType?: string;
}

/** `widget_render`, once: what the widget is shown on. */
export function captureRender({ emit }: CaptureContext): void {
  const connection = (navigator as Navigator & { connection?: NetworkInformation }).connection;
  emit("widget_render", {
    viewport_width: window.innerWidth,
    viewport_height: window.innerHeight,
    device_pixel_ratio: window.devicePixelRatio || 1,
    device_touch: "ontouchstart" in window || navigator.maxTouchPoints > 0 ? 1 : 0,
    connection_type: connection?.effectiveType,
  });
}

import type { CaptureContext } from "../events";

/** `widget_focus` when the widget's frame gains or loses the keyboard focus. */
export function captureFocus({ emit, listen }: CaptureContext): void {
  for (const focused of [true, false]) {
    listen(window, focused ? "focus" : "blur", () => emit("widget_focus", { metadata: { focused } }));
  }
}

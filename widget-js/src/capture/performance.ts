import type { CaptureContext } from "../events";

/**
 * `widget_performance`, once the page has loaded: `load_time_ms` and, where the browser has
 * them, first paint, first contentful paint and the navigation's `domInteractive` mark as the
 * time to interactive, all in ms since navigation start.
 */
export function capturePerformance({ emit, listen, onStop }: CaptureContext): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const report = () => {
    const entries = (type: string) => performance.getEntriesByType?.(type) ?? [];
    const navigation = entries("navigation")[0] as PerformanceNavigationTiming | undefined;
    const paint = (name: string) => entries("paint").find((entry) => entry.name === name)?.startTime;
    const ms = (value: number | undefined) => (value ? Math.round(value) : undefined);
    emit("widget_performance", {
      // Without Navigation Timing, now (just after `load`) is the load time.
      load_time_ms: ms(navigation?.loadEventEnd) ?? Math.round(performance.now()),
      metadata: {
        first_paint_ms: ms(paint("first-paint")),
        first_contentful_paint_ms: ms(paint("first-contentful-paint")),
        time_to_interactive_ms: ms(navigation?.domInteractive),
      },
    });
  };
  // `loadEventEnd` is set once every `load` handler has returned: read it a task later.
  const later = () => {
    timer = setTimeout(report, 0);
  };
  if (document.readyState === "complete") later();
  else listen(window, "load", later, { once: true });
  onStop(() => clearTimeout(timer));
}

import type { CaptureContext } from "../events";

/**
 * `widget_visibility` each time the widget comes on or goes off screen (IntersectionObserver,
 * the tab's visibility, the page going away); going off carries `visible_duration_ms`.
 */
export function captureVisibility({ emit, listen, onStop, onLeave }: CaptureContext): void {
  const canObserve = typeof IntersectionObserver === "function";
  // Without an observer, a widget in a visible tab is taken to be on screen.
  let intersecting = !canObserve;
  let gone = false;
  let visibleSince: number | undefined;

  const update = () => {
    const visible = intersecting && !gone && document.visibilityState !== "hidden";
    if (visible === (visibleSince !== undefined)) return;
    if (visible) {
      visibleSince = Date.now();
      emit("widget_visibility", { metadata: { visible: true } });
    } else {
      const duration = Date.now() - (visibleSince as number);
      visibleSince = undefined;
      emit("widget_visibility", { visible_duration_ms: duration, metadata: { visible: false } });
    }
  };
  // The page is back (tab shown again, or restored from the back/forward cache).
  const comeBack = () => {
    if (document.visibilityState !== "hidden") gone = false;
    update();
  };

  if (canObserve) {
    const observer = new IntersectionObserver((entries) => {
      intersecting = entries[entries.length - 1].isIntersecting;
      update();
    });
    observer.observe(document.documentElement);
    onStop(() => observer.disconnect());
  }
  listen(document, "visibilitychange", comeBack);
  listen(window, "pageshow", comeBack);
  onLeave(() => {
    gone = true;
    update();
  });
  update();
}

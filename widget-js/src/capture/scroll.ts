import type { CaptureContext } from "../events";
import { WATCH } from "./listen";

// At most 4 scroll events per second (SPEC 5).
const MIN_INTERVAL_MS = 250;

/**
 * `widget_scroll` with the deepest point reached so far (`scroll_depth_pct`, 0..100), sent only
 * when it grows: scrolling back up reports nothing. A burst of scrolling sends its deepest
 * point at the end of each 250 ms window.
 */
export function captureScroll({ emit, listen, onStop, onLeave }: CaptureContext): void {
  let deepest = 0;
  let reported = 0;
  let lastSent = -Infinity;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const send = () => {
    clearTimeout(timer);
    timer = undefined;
    if (deepest <= reported) return;
    reported = deepest;
    lastSent = Date.now();
    emit("widget_scroll", { scroll_depth_pct: deepest });
  };

  listen(
    document,
    "scroll",
    (event) => {
      const depth = depthOf(event.target);
      if (depth <= deepest) return;
      deepest = depth;
      const wait = lastSent + MIN_INTERVAL_MS - Date.now();
      if (wait <= 0) send();
      else timer ??= setTimeout(send, wait);
    },
    WATCH,
  );
  onStop(() => clearTimeout(timer));
  onLeave(send);
}

/** How far down `target` (the page, or a scrolling element) has been seen, in percent. */
function depthOf(target: EventTarget | null): number {
  const page =
    !(target instanceof Element) || target === document.documentElement || target === document.body;
  const element = page ? (document.scrollingElement ?? document.documentElement) : (target as Element);
  const seen = page ? window.scrollY + window.innerHeight : element.scrollTop + element.clientHeight;
  const height = element.scrollHeight;
  return height > 0 ? Math.min(100, Math.max(0, Math.round((seen / height) * 100))) : 0;
}

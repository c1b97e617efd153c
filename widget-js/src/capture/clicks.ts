import type { CaptureContext } from "../events";
import { describeElement } from "./elements";
import { WATCH } from "./listen";

// A rage click: 3 or more clicks on one element, each within 500 ms of the previous (SPEC 5).
const RAGE_CLICKS = 3;
const RAGE_GAP_MS = 500;

interface Streak {
  target: Element;
  count: number;
  last: number;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * `widget_click` for every click, `widget_link_click` for a click on a link (its destination
 * domain only), and `widget_rage_click` once a streak of fast clicks on one element ends, with
 * its `click_count`.
 */
export function captureClicks({ emit, listen, onStop, onLeave }: CaptureContext): void {
  let streak: Streak | undefined;

  const endStreak = () => {
    if (!streak) return;
    clearTimeout(streak.timer);
    if (streak.count >= RAGE_CLICKS) {
      emit("widget_rage_click", {
        click_count: streak.count,
        metadata: { target: describeElement(streak.target) },
      });
    }
    streak = undefined;
  };

  listen<MouseEvent>(
    document,
    "click",
    (event) => {
      const target = event.target;
      if (!(target instanceof Element)) return;
      emit("widget_click", {
        click_count: Math.max(1, event.detail || 1),
        metadata: { target: describeElement(target) },
      });

      const now = Date.now();
      if (streak?.target === target && now - streak.last <= RAGE_GAP_MS) {
        streak.count++;
        streak.last = now;
        clearTimeout(streak.timer);
      } else {
        endStreak();
        streak = { target, count: 1, last: now };
      }
      // One past the gap: a click exactly 500 ms after the previous one still continues it.
      streak.timer = setTimeout(endStreak, RAGE_GAP_MS + 1);

      const link = target.closest("a[href]");
      if (link instanceof HTMLAnchorElement) {
        const destination = new URL(link.href, location.href);
        if (/^https?:$/.test(destination.protocol)) {
          emit("widget_link_click", {
            metadata: { domain: destination.hostname, external: destination.host !== location.host },
          });
        }
      }
    },
    WATCH,
  );
  onStop(endStreak);
  onLeave(endStreak);
}

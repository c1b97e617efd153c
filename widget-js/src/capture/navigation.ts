import type { CaptureContext } from "../events";
import { redactText } from "../pii";

type HistoryMethod = "pushState" | "replaceState";

/**
 * `widget_navigation` (`nav_from`, `nav_to`) when a multi-view widget changes route through
 * the History API (`pushState`, `replaceState`) or the user goes back or forward.
 */
export function captureNavigation({ emit, listen, onStop }: CaptureContext): void {
  let current = where();

  const record = (trigger: string) => {
    const next = where();
    if (next === current) return;
    emit("widget_navigation", { nav_from: current, nav_to: next, metadata: { trigger } });
    current = next;
  };

  for (const method of ["pushState", "replaceState"] as HistoryMethod[]) {
    const original = history[method];
    const wrapper = function (this: History, ...args: Parameters<History[HistoryMethod]>) {
      const result = original.apply(this, args);
      try {
        record(method);
      } catch {
        // The route changed; only its event is lost.
      }
      return result;
    };
    history[method] = wrapper;
    // Put back only our own wrapper: a router may have wrapped it again since.
    onStop(() => {
      if (history[method] === wrapper) history[method] = original;
    });
  }
  listen(window, "popstate", () => record("popstate"));
}

/** The route: path and fragment, never the query (it often holds tokens or emails). */
function where(): string {
  return redactText(location.pathname + location.hash).slice(0, 256);
}

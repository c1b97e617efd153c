import { captureClicks } from "./capture/clicks";
import { captureErrors } from "./capture/errors";
import { captureFocus } from "./capture/focus";
import { captureForms } from "./capture/forms";
import { captureNavigation } from "./capture/navigation";
import { capturePerformance } from "./capture/performance";
import { captureRender } from "./capture/render";
import { captureScroll } from "./capture/scroll";
import { captureVisibility } from "./capture/visibility";
import type { CaptureContext } from "./events";

const CAPTURES = [
  captureRender,
  captureErrors,
  captureVisibility,
  captureClicks,
  captureScroll,
  captureForms,
  captureNavigation,
  captureFocus,
  capturePerformance,
];

/**
 * Starts every auto-capture (the 12 `widget_*` events). One that fails to start (an odd host
 * without some API) is skipped; the others run.
 */
export function startAutoCapture(context: CaptureContext): void {
  for (const capture of CAPTURES) {
    try {
      capture(context);
    } catch {
      // This kind is not captured on this host.
    }
  }
}

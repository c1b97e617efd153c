import type { CaptureContext } from "../events";
import { redactText } from "../pii";

// A widget throwing in every animation frame would otherwise fill the buffer in seconds and
// push out every other event.
const MAX_ERRORS = 25;
const MAX_MESSAGE_CHARS = 1_000;

/** `widget_error`: uncaught errors and unhandled promise rejections. */
export function captureErrors({ emit, listen }: CaptureContext): void {
  let reported = 0;
  const report = (kind: string, reason: unknown, where?: Record<string, unknown>) => {
    if (reported++ >= MAX_ERRORS) return;
    // An Error reads "TypeError: message".
    const message = String(reason);
    emit("widget_error", {
      metadata: { kind, message: redactText(message.slice(0, MAX_MESSAGE_CHARS)), ...where },
    });
  };
  listen<ErrorEvent>(window, "error", (event) =>
    report("error", event.error ?? event.message, {
      // Script URLs can carry tokens in their query; the path is enough to find the bug.
      source: event.filename?.split(/[?#]/)[0] || undefined,
      line: event.lineno || undefined,
      column: event.colno || undefined,
    }),
  );
  listen<PromiseRejectionEvent>(window, "unhandledrejection", (event) =>
    report("unhandledrejection", event.reason),
  );
}

import { startAutoCapture } from "./autocapture";
import { listen } from "./capture/listen";
import { eventsUrl, resolveConfig, type ConfigSource, type YavioConfig } from "./config";
import { buildEvent, type CaptureContext, type EventFields, type WireEvent } from "./events";
import { redact } from "./pii";
import { createTransport, type TransportOptions } from "./transport";
import { warnOnce } from "./warnings";

export type Properties = Record<string, unknown>;

/** A conversion's value and ISO 4217 currency; any other key is kept as metadata. */
export interface ConversionDetails extends Properties {
  value?: number;
  currency?: string;
}

/** The widget's analytics. Every method is safe to call at any time and never throws. */
export interface Yavio {
  /** A funnel step; steps continue the numbering the server's steps left off at. */
  step(name: string, properties?: Properties): void;
  /** A named event with free-form properties. */
  track(name: string, properties?: Properties): void;
  /** A conversion, e.g. `conversion("booking_completed", { value: 567, currency: "EUR" })`. */
  conversion(name: string, details?: ConversionDetails): void;
  /** Who the user is; later events carry the id. A different id later on is ignored. */
  identify(userId: string, traits?: Properties): void;
  /** Sends what is queued now. */
  flush(): Promise<void>;
  /** Removes every listener and sends what is queued; the object is inert afterwards. */
  shutdown(): Promise<void>;
}

export interface YavioOptions extends TransportOptions {
  /** Capture the 12 `widget_*` events (default true); explicit events are sent either way. */
  autoCapture?: boolean;
}

const MAX_NAME_CHARS = 256;
const CURRENCY = /^[A-Za-z]{3}$/;
const resolved = Promise.resolve();

/** What `createYavio` returns when no config resolves: no listener, no network. */
export const NOOP_YAVIO: Yavio = {
  step() {},
  track() {},
  conversion() {},
  identify() {},
  flush: () => resolved,
  shutdown: () => resolved,
};

/**
 * Starts the widget's analytics: auto-capture and explicit events, sent to the ingest with the
 * widget token. `source` is a config, a tool result (or its `_meta`) carrying `yavio`, or
 * nothing, in which case ChatGPT's `window.openai.toolResponseMetadata`, then
 * `window.__YAVIO__`, are used. Without a complete config, a no-op object is returned.
 */
export function createYavio(source?: ConfigSource, options: YavioOptions = {}): Yavio {
  try {
    const config = resolveConfig(source);
    return config ? start(config, options) : NOOP_YAVIO;
  } catch {
    return NOOP_YAVIO;
  }
}

function start(config: YavioConfig, options: YavioOptions): Yavio {
  const transport = createTransport(eventsUrl(config.endpoint), config.token, options);
  let nextStep = config.stepSequence ?? 0;
  let userId: string | undefined;
  let running = true;

  const send = (type: WireEvent["event_type"], fields: EventFields = {}) => {
    if (!running) return;
    try {
      transport.enqueue(buildEvent(type, config, userId ? { user_id: userId, ...fields } : fields));
    } catch {
      // One event lost; the page is unaffected.
    }
  };
  const guarded =
    <A extends unknown[]>(method: (...args: A) => void) =>
    (...args: A) => {
      try {
        if (running) method(...args);
      } catch {
        // A bad argument from the page costs its event, nothing more.
      }
    };

  const undo: Array<() => void> = [];
  const settles: Array<() => void> = [];
  const runAll = (tasks: Array<() => void>) => {
    for (const task of tasks) {
      try {
        task();
      } catch {
        // One capture's failure leaves the others to run.
      }
    }
  };
  const context: CaptureContext = {
    emit: send,
    listen: (target, type, handler, options) => undo.push(listen(target, type, handler, options)),
    onStop: (task) => undo.push(task),
    onLeave: (task) => settles.push(task),
  };
  if (options.autoCapture !== false) startAutoCapture(context);
  // As the page goes away: let each capture record what is pending, then beacon everything.
  const leave = () => {
    runAll(settles);
    transport.beacon();
  };
  context.listen(window, "pagehide", leave);
  context.listen(document, "visibilitychange", () => {
    if (document.visibilityState === "hidden") leave();
  });

  return {
    step: guarded((name: string, properties?: Properties) =>
      send("step", { event_name: clip(name), step_sequence: nextStep++, metadata: redacted(properties) }),
    ),
    track: guarded((name: string, properties?: Properties) =>
      send("track", { event_name: clip(name), metadata: redacted(properties) }),
    ),
    conversion: guarded((name: string, details: ConversionDetails = {}) => {
      const { value, currency, ...rest } = details;
      // The ingest rejects the whole event for a bad currency: send the conversion without it.
      const iso = CURRENCY.test(currency as string);
      if (currency !== undefined && !iso) warnOnce("conversion currency must be 3 letters");
      send("conversion", {
        event_name: clip(name),
        conversion_value: Number.isFinite(value) ? value : undefined,
        conversion_currency: iso ? (currency as string).toUpperCase() : undefined,
        metadata: Object.keys(rest).length ? redacted(rest) : undefined,
      });
    }),
    identify: guarded((id: string, traits?: Properties) => {
      if (typeof id !== "string" || !id || id.length > MAX_NAME_CHARS) {
        warnOnce("identify needs a user id of 1 to 256 chars");
        return;
      }
      if (userId !== undefined && userId !== id) {
        warnOnce("identify: a different user id is ignored");
        return;
      }
      userId = id;
      send("identify", { user_traits: redacted(traits) });
    }),
    flush: () => (running ? transport.flush() : resolved),
    shutdown() {
      if (!running) return resolved;
      runAll(undo);
      const flushed = transport.flush();
      running = false;
      return flushed;
    },
  };
}

function clip(name: string): string {
  return String(name).slice(0, MAX_NAME_CHARS);
}

/** Explicit properties leave the page only after PII redaction (SPEC 3). */
function redacted(properties: Properties | undefined): Properties | undefined {
  return properties && typeof properties === "object" && !Array.isArray(properties)
    ? redact(properties)
    : undefined;
}

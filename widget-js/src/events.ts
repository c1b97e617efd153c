import { SDK_VERSION } from "./version";

/** The 12 events the widget captures on its own (SPEC 2). */
export type WidgetEventType =
  | "widget_render"
  | "widget_error"
  | "widget_visibility"
  | "widget_click"
  | "widget_scroll"
  | "widget_form_field"
  | "widget_form_submit"
  | "widget_link_click"
  | "widget_navigation"
  | "widget_focus"
  | "widget_performance"
  | "widget_rage_click";

export type ExplicitEventType = "step" | "track" | "conversion" | "identify";

/** Fields an event may carry besides the ones every event has; each is a column in storage. */
export interface EventFields {
  event_name?: string;
  metadata?: Record<string, unknown>;
  user_id?: string;
  step_sequence?: number;
  conversion_value?: number;
  conversion_currency?: string;
  user_traits?: Record<string, unknown>;
  viewport_width?: number;
  viewport_height?: number;
  device_pixel_ratio?: number;
  device_touch?: 0 | 1;
  connection_type?: string;
  visible_duration_ms?: number;
  click_count?: number;
  scroll_depth_pct?: number;
  field_name?: string;
  nav_from?: string;
  nav_to?: string;
  load_time_ms?: number;
}

/** An event as sent to the ingest. */
export interface WireEvent extends EventFields {
  event_id: string;
  event_type: WidgetEventType | ExplicitEventType;
  trace_id: string;
  session_id: string;
  timestamp: string;
  source: "widget";
  sdk_version: string;
}

/** How a capture hands an event to the client, which adds ids, time and the user. */
export type Emit = (type: WidgetEventType, fields?: EventFields) => void;

/** What an auto-capture gets to work with; everything it registers is undone by `shutdown`. */
export interface CaptureContext {
  emit: Emit;
  /** `addEventListener`, guarded (a failure never reaches the page) and removed at shutdown. */
  listen<E extends Event>(
    target: EventTarget,
    type: string,
    handler: (event: E) => void,
    options?: AddEventListenerOptions,
  ): void;
  /** Runs at shutdown. */
  onStop(undo: () => void): void;
  /** Runs as the page goes away, before the last events leave: record what is pending. */
  onLeave(settle: () => void): void;
}

export function buildEvent(
  type: WireEvent["event_type"],
  ids: { traceId: string; sessionId: string },
  fields: EventFields,
): WireEvent {
  return {
    event_id: newEventId(),
    event_type: type,
    trace_id: ids.traceId,
    session_id: ids.sessionId,
    timestamp: new Date().toISOString(),
    source: "widget",
    sdk_version: SDK_VERSION,
    ...fields,
  };
}

/** A UUID v4: `crypto.randomUUID` where the page is a secure context, else built by hand. */
export function newEventId(): string {
  const webCrypto = globalThis.crypto;
  if (webCrypto?.randomUUID) return webCrypto.randomUUID();
  const random = (): number =>
    webCrypto ? webCrypto.getRandomValues(new Uint8Array(1))[0] : Math.random() * 256;
  // Each x is a random hex digit; y takes the variant bits (8, 9, a or b).
  return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (c) =>
    ((c === "x" ? random() : (random() & 0x3f) | 0x80) >> 4).toString(16),
  );
}

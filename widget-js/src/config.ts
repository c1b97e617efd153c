/** What the widget needs to send events: the server puts it in a tool result's `_meta.yavio`. */
export interface YavioConfig {
  /** The widget JWT, scoped to this trace and session. */
  token: string;
  /** The ingest's base URL (as the server sends it) or its full `/v1/events` URL. */
  endpoint: string;
  traceId: string;
  sessionId: string;
  /** Where the server's steps stopped: the widget's first step gets this number. */
  stepSequence?: number;
}

/** A complete config, a tool result or its `_meta`, or nothing (look in the page). */
export type ConfigSource = Partial<YavioConfig> | Record<string, unknown> | null | undefined;

interface YavioWindow {
  openai?: { toolResponseMetadata?: unknown };
  __YAVIO__?: unknown;
}

/**
 * The first complete config, in order: `source` itself, `source.yavio` or `source._meta.yavio`
 * (a tool result or its `_meta`), `window.openai.toolResponseMetadata` (ChatGPT), then
 * `window.__YAVIO__` (injected by the server). Null when none is complete.
 */
export function resolveConfig(source?: ConfigSource): YavioConfig | null {
  const page = (typeof window === "undefined" ? {} : window) as YavioWindow;
  const candidates = [
    ...fromToolResult(source),
    ...fromToolResult(page.openai?.toolResponseMetadata),
    page.__YAVIO__,
  ];
  for (const candidate of candidates) {
    const config = completeConfig(candidate);
    if (config) return config;
  }
  return null;
}

function fromToolResult(value: unknown): unknown[] {
  if (!isObject(value)) return [];
  return [value, value.yavio, isObject(value._meta) ? value._meta.yavio : undefined];
}

function completeConfig(value: unknown): YavioConfig | null {
  if (!isObject(value)) return null;
  const { token, endpoint, traceId, sessionId, stepSequence } = value as Record<string, string>;
  if (![token, endpoint, traceId, sessionId].every((part) => typeof part === "string" && part)) return null;
  const step = Number.isInteger(stepSequence) && Number(stepSequence) >= 0 ? Number(stepSequence) : undefined;
  return { token, endpoint, traceId, sessionId, stepSequence: step };
}

/** The events URL for an endpoint given either as the server base or as the full URL. */
export function eventsUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, "");
  return base.endsWith("/v1/events") ? base : base + "/v1/events";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

import { packBodies, utf8Bytes } from "./bodies";
import type { WireEvent } from "./events";
import { SDK_VERSION } from "./version";
import { warnOnce } from "./warnings";

/** Numbers from SPEC 5; settable so tests and unusual hosts can change them. */
export interface TransportOptions {
  batchSize?: number;
  flushIntervalMs?: number;
  bufferSize?: number;
}

// The ingest rejects an event over 51,200 bytes (SPEC 1): sending it would only waste a request.
const MAX_EVENT_BYTES = 51_200;
// Browsers refuse a keepalive fetch or a beacon once 64 KiB are in flight; stay well under.
const MAX_BODY_BYTES = 60_000;
// Backoff after a network error or a 5xx: 1 s, 2 s, 4 s, then the batch is dropped.
const RETRIES = 3;
const FIRST_BACKOFF_MS = 1_000;

interface Queued {
  json: string;
  bytes: number;
}

/** What to do with a batch after a request: a number is the server's `Retry-After`, in ms. */
type Outcome = "sent" | "retry" | "drop" | "stop" | number;

/** Sends events to the ingest; see `createTransport`. */
export interface Transport {
  enqueue(event: WireEvent): void;
  /** Sends everything queued (a 429 or a backoff leaves the rest queued for later). */
  flush(): Promise<void>;
  /** The page is going away: hand everything queued to `sendBeacon`, token in the body. */
  beacon(): void;
  /** Events dropped so far: buffer overflow, oversize, rejected, or retries exhausted. */
  dropped(): number;
}

/**
 * Sends events in batches: `fetch` with the Bearer token while the page lives, `sendBeacon`
 * with the token in the body as it goes away. Bounded (the oldest events are dropped, and
 * counted, when the buffer is full); a 401 stops it for good; never throws, never logs more
 * than a warning.
 */
export function createTransport(url: string, token: string, options: TransportOptions = {}): Transport {
  const batchSize = options.batchSize ?? 20;
  const flushIntervalMs = options.flushIntervalMs ?? 5_000;
  const bufferSize = options.bufferSize ?? 200;
  let queue: Queued[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let draining: Promise<void> | undefined;
  let pausedUntil = 0;
  let failures = 0;
  let dropped = 0;
  let stopped = false;

  const drop = (count: number, reason: string) => {
    dropped += count;
    warnOnce(reason);
  };

  const trimToBuffer = () => {
    const excess = queue.length - bufferSize;
    if (excess > 0) {
      queue.splice(0, excess);
      drop(excess, "buffer full: oldest events dropped");
    }
  };

  const cancelTimer = () => {
    clearTimeout(timer);
    timer = undefined;
  };

  const schedule = (delayMs: number) => {
    cancelTimer();
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, delayMs);
  };

  const post = async (body: string): Promise<Outcome> => {
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
        body,
        keepalive: true,
      });
    } catch {
      return "retry";
    }
    const status = response.status;
    if (status >= 200 && status < 300) return "sent";
    if (status === 401) return "stop";
    // The ingest's Retry-After is whole seconds (SPEC 1).
    const retryAfter = response.headers.get("Retry-After");
    if ((status === 429 || status === 503) && retryAfter && +retryAfter >= 0) return +retryAfter * 1000;
    return status === 408 || status === 429 || status >= 500 ? "retry" : "drop";
  };

  const drain = async () => {
    cancelTimer();
    while (queue.length && !stopped) {
      const wait = pausedUntil - Date.now();
      if (wait > 0) return schedule(wait);
      const [body] = packBodies(queue, { sdk_version: SDK_VERSION }, MAX_BODY_BYTES, batchSize);
      const batch = queue.splice(0, body.count);
      const outcome = await post(body.text);
      if (outcome === "sent") {
        failures = 0;
      } else if (outcome === "stop") {
        stopped = true;
        queue = [];
        cancelTimer();
        warnOnce("widget token refused (401): sending stopped");
      } else if (outcome === "drop") {
        drop(batch.length, "the ingest rejected a batch");
      } else if (outcome === "retry" && ++failures > RETRIES) {
        failures = 0;
        drop(batch.length, "events dropped after network errors");
      } else {
        pausedUntil = Date.now() + (outcome === "retry" ? FIRST_BACKOFF_MS * 2 ** (failures - 1) : outcome);
        queue.unshift(...batch);
        trimToBuffer();
      }
    }
  };

  const flush = (): Promise<void> =>
    (draining ??= drain().finally(() => {
      draining = undefined;
    }));

  return {
    enqueue(event) {
      if (stopped) return;
      let json: string;
      try {
        json = JSON.stringify(event);
      } catch {
        return drop(1, "an event could not be serialised");
      }
      const bytes = utf8Bytes(json);
      if (bytes > MAX_EVENT_BYTES) return drop(1, "an event over 51,200 bytes was dropped");
      queue.push({ json, bytes });
      trimToBuffer();
      if (queue.length >= batchSize && Date.now() >= pausedUntil) void flush();
      else if (timer === undefined) schedule(flushIntervalMs);
    },
    flush,
    beacon() {
      cancelTimer();
      if (stopped || !queue.length) return;
      const bodies = packBodies(queue, { token, sdk_version: SDK_VERSION }, MAX_BODY_BYTES);
      queue = [];
      for (const { text } of bodies) {
        let queued = false;
        try {
          queued = navigator.sendBeacon(url, text);
        } catch {
          // No sendBeacon, or it threw: fall through to fetch.
        }
        // The browser refuses beacons past its quota; a keepalive fetch is the last chance.
        if (!queued) fetch(url, { method: "POST", body: text, keepalive: true }).catch(() => undefined);
      }
    },
    dropped: () => dropped,
  };
}

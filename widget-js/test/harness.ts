/**
 * What the unit tests share: a fake network (jsdom has no ingest and no `sendBeacon`; the real
 * browser is covered by the e2e test under e2e/) and a way to start clients that are shut
 * down after each test.
 */
import { afterEach, beforeEach, vi } from "vitest";
import { createYavio, type Yavio, type YavioOptions } from "../src/index";
import type { WireEvent } from "../src/events";

export const CONFIG = {
  token: "eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJzZXNfMSJ9.c2lnbmF0dXJl",
  endpoint: "https://ingest.example.com",
  traceId: "tr_widget_trace_000000001",
  sessionId: "ses_widget_session_000001",
  stepSequence: 3,
};
export const EVENTS_URL = "https://ingest.example.com/v1/events";

export interface RecordedRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  keepalive: boolean;
}

type Answer = { status: number; headers?: Record<string, string> } | "network error";

/** Records every `fetch` and `sendBeacon`, answering fetches as told (200 by default). */
export class FakeNetwork {
  requests: RecordedRequest[] = [];
  beacons: Array<{ url: string; body: string }> = [];
  answer: (request: RecordedRequest) => Answer = () => ({ status: 200 });
  beaconAccepts = true;

  install(): void {
    vi.stubGlobal("fetch", async (url: string, init: RequestInit = {}) => {
      const request: RecordedRequest = {
        url: String(url),
        headers: { ...(init.headers as Record<string, string>) },
        body: String(init.body),
        keepalive: init.keepalive === true,
      };
      this.requests.push(request);
      const answer = this.answer(request);
      if (answer === "network error") throw new TypeError("Failed to fetch");
      const headers = new Headers(answer.headers);
      return { status: answer.status, ok: answer.status < 300, headers } as Response;
    });
    Object.defineProperty(navigator, "sendBeacon", {
      configurable: true,
      value: (url: string, body: string) => {
        if (!this.beaconAccepts) return false;
        this.beacons.push({ url, body });
        return true;
      },
    });
  }

  /** Every body sent, by fetch or beacon, parsed. */
  envelopes(): Array<{ events: WireEvent[]; token?: string }> {
    return [...this.requests, ...this.beacons].map((sent) => JSON.parse(sent.body));
  }

  events(type?: string): WireEvent[] {
    const all = this.envelopes().flatMap((envelope) => envelope.events);
    return type ? all.filter((event) => event.event_type === type) : all;
  }

  /** Everything that left the page, as one string: for "this never appears anywhere". */
  everythingSent(): string {
    return [...this.requests, ...this.beacons].map((sent) => sent.url + sent.body).join("\n");
  }
}

export let network: FakeNetwork;
const started: Yavio[] = [];

/** A client on the fake network; shut down after the test. */
export function startYavio(
  source: Parameters<typeof createYavio>[0] = CONFIG,
  options?: YavioOptions,
): Yavio {
  const yavio = createYavio(source, options);
  started.push(yavio);
  return yavio;
}

/** Sends what is queued and lets the fake network answer. */
export async function flushAll(yavio: Yavio): Promise<void> {
  await yavio.flush();
  await vi.advanceTimersByTimeAsync(0);
}

/** Makes the page go away as a browser does: `pagehide`. */
export function leavePage(): void {
  window.dispatchEvent(new Event("pagehide"));
}

export function useFakeNetwork(): void {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    network = new FakeNetwork();
    network.install();
  });
  afterEach(async () => {
    for (const yavio of started.splice(0)) await yavio.shutdown();
    vi.useRealTimers();
    vi.unstubAllGlobals();
    document.body.innerHTML = "";
    history.replaceState(null, "", "/");
  });
}

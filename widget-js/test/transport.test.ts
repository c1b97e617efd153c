import { describe, expect, it, vi } from "vitest";
import { packBodies } from "../src/bodies";
import { buildEvent } from "../src/events";
import { createTransport } from "../src/transport";
import { CONFIG, EVENTS_URL, flushAll, leavePage, network, startYavio, useFakeNetwork } from "./harness";

useFakeNetwork();

const explicitOnly = { autoCapture: false };

function trackMany(yavio: ReturnType<typeof startYavio>, count: number, properties = {}): void {
  for (let i = 0; i < count; i++) yavio.track(`event ${i}`, properties);
}

const names = (events: Array<{ event_name?: string }>) => events.map((event) => event.event_name);

describe("batching", () => {
  it("posts 20 events at once, with the Bearer token, as a keepalive fetch", async () => {
    const yavio = startYavio(CONFIG, explicitOnly);
    trackMany(yavio, 19);
    await vi.advanceTimersByTimeAsync(0);
    expect(network.requests).toHaveLength(0);

    yavio.track("the twentieth");
    await vi.advanceTimersByTimeAsync(0);

    expect(network.requests).toHaveLength(1);
    const [request] = network.requests;
    expect(request.url).toBe(EVENTS_URL);
    expect(request.headers.Authorization).toBe(`Bearer ${CONFIG.token}`);
    expect(request.keepalive).toBe(true);
    expect(JSON.parse(request.body).events).toHaveLength(20);
    expect(request.body).not.toContain('"token"');
  });

  it("posts fewer than 20 events after 5 seconds", async () => {
    const yavio = startYavio(CONFIG, explicitOnly);
    yavio.track("alone");
    await vi.advanceTimersByTimeAsync(4_900);
    expect(network.requests).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(names(network.events())).toEqual(["alone"]);
  });

  it("keeps the newest 200 events when more are queued, warning once", async () => {
    const yavio = startYavio(CONFIG, { autoCapture: false, batchSize: 1_000 });
    trackMany(yavio, 250);
    await flushAll(yavio);

    const sent = names(network.events());
    expect(sent).toHaveLength(200);
    expect(sent[0]).toBe("event 50");
    expect(sent.at(-1)).toBe("event 249");
    expect(console.warn).toHaveBeenCalledTimes(1);
  });
});

describe("server answers", () => {
  it("stops for good after a 401: nothing more is sent, by fetch or beacon", async () => {
    network.answer = () => ({ status: 401 });
    const yavio = startYavio(CONFIG, explicitOnly);
    trackMany(yavio, 20);
    await vi.advanceTimersByTimeAsync(0);
    expect(network.requests).toHaveLength(1);

    trackMany(yavio, 45);
    await vi.advanceTimersByTimeAsync(60_000);
    await yavio.flush();
    leavePage();

    expect(network.requests).toHaveLength(1);
    expect(network.beacons).toEqual([]);
    expect(console.warn).toHaveBeenCalledTimes(1);
  });

  it("waits out a 429's Retry-After before sending the same batch again", async () => {
    let answered429 = false;
    network.answer = () => {
      if (answered429) return { status: 200 };
      answered429 = true;
      return { status: 429, headers: { "Retry-After": "7" } };
    };
    const yavio = startYavio(CONFIG, explicitOnly);
    trackMany(yavio, 20);
    await vi.advanceTimersByTimeAsync(0);
    expect(network.requests).toHaveLength(1);

    await vi.advanceTimersByTimeAsync(6_900);
    expect(network.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(network.requests).toHaveLength(2);
    expect(network.requests[1].body).toBe(network.requests[0].body);
  });

  it("retries network errors with a growing backoff, then drops the batch", async () => {
    network.answer = () => "network error";
    const yavio = startYavio(CONFIG, explicitOnly);
    trackMany(yavio, 20);
    await vi.advanceTimersByTimeAsync(0);
    const times = () => network.requests.length;
    expect(times()).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000); // 1 s
    expect(times()).toBe(2);
    await vi.advanceTimersByTimeAsync(2_000); // 2 s
    expect(times()).toBe(3);
    await vi.advanceTimersByTimeAsync(4_000); // 4 s, then given up
    expect(times()).toBe(4);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(times()).toBe(4);

    network.answer = () => ({ status: 200 });
    yavio.track("later");
    await flushAll(yavio);
    expect(names(JSON.parse(network.requests.at(-1)!.body).events)).toEqual(["later"]);
  });

  it("drops a batch the ingest rejects (400) and carries on", async () => {
    network.answer = (request) => (request.body.includes("bad") ? { status: 400 } : { status: 200 });
    const yavio = startYavio(CONFIG, { autoCapture: false, batchSize: 1 });
    yavio.track("bad");
    yavio.track("good");
    await flushAll(yavio);
    expect(network.requests).toHaveLength(2);
  });
});

describe("leaving the page", () => {
  it("beacons what is queued on pagehide, with the token in a string body", async () => {
    const yavio = startYavio(CONFIG, explicitOnly);
    yavio.track("queued");
    leavePage();

    expect(network.requests).toEqual([]);
    expect(network.beacons).toHaveLength(1);
    const [beacon] = network.beacons;
    expect(beacon.url).toBe(EVENTS_URL);
    expect(typeof beacon.body).toBe("string");
    expect(JSON.parse(beacon.body)).toMatchObject({
      token: CONFIG.token,
      events: [{ event_name: "queued" }],
    });
  });

  it("beacons when the tab is hidden too", async () => {
    const yavio = startYavio(CONFIG, explicitOnly);
    yavio.track("queued");
    Object.defineProperty(document, "visibilityState", { configurable: true, value: "hidden" });
    try {
      document.dispatchEvent(new Event("visibilitychange"));
    } finally {
      Object.defineProperty(document, "visibilityState", { configurable: true, value: "visible" });
    }
    expect(names(network.events())).toEqual(["queued"]);
  });

  it("splits many big events into several bodies, each under 60 KB, every event sent once", async () => {
    const yavio = startYavio(CONFIG, { autoCapture: false, batchSize: 1_000 });
    const filler = "x".repeat(9_000);
    trackMany(yavio, 30, { notes: filler });
    leavePage();

    expect(network.beacons.length).toBeGreaterThanOrEqual(5);
    for (const beacon of network.beacons) {
      expect(new TextEncoder().encode(beacon.body).length).toBeLessThan(60 * 1024);
      expect(JSON.parse(beacon.body).token).toBe(CONFIG.token);
    }
    expect(names(network.events())).toEqual(Array.from({ length: 30 }, (_, i) => `event ${i}`));
  });

  it("falls back to a keepalive fetch when the browser refuses a beacon", async () => {
    network.beaconAccepts = false;
    const yavio = startYavio(CONFIG, explicitOnly);
    yavio.track("queued");
    leavePage();
    await vi.advanceTimersByTimeAsync(0);

    expect(network.requests).toHaveLength(1);
    expect(network.requests[0].keepalive).toBe(true);
    expect(JSON.parse(network.requests[0].body).token).toBe(CONFIG.token);
  });
});

describe("the buffer", () => {
  it("counts the events it drops", () => {
    const transport = createTransport(EVENTS_URL, CONFIG.token, { batchSize: 1_000 });
    for (let i = 0; i < 230; i++) transport.enqueue(buildEvent("track", CONFIG, { event_name: `e${i}` }));
    expect(transport.dropped()).toBe(30);
    transport.beacon();
    expect(names(network.events())[0]).toBe("e30");
  });
});

describe("packBodies", () => {
  it("never splits below one event per body and keeps the order", () => {
    const events = ["a", "bb", "ccc"].map((text) => {
      const json = JSON.stringify({ text });
      return { json, bytes: json.length };
    });
    const bodies = packBodies(events, {}, 30);
    expect(bodies.map((body) => JSON.parse(body.text).events.map((e: { text: string }) => e.text))).toEqual([
      ["a"],
      ["bb"],
      ["ccc"],
    ]);
    expect(packBodies(events, { sdk_version: "1" }, 10_000, 2).map((body) => body.count)).toEqual([2, 1]);
  });
});

describe("an event the ingest would reject", () => {
  it("is dropped before sending when over 51,200 bytes", async () => {
    const yavio = startYavio(CONFIG, explicitOnly);
    yavio.track("huge", { blob: "y".repeat(60_000) });
    yavio.track("fine");
    await flushAll(yavio);
    expect(names(network.events())).toEqual(["fine"]);
  });
});

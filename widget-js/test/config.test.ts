import { afterEach, describe, expect, it, vi } from "vitest";
import { eventsUrl, resolveConfig } from "../src/config";
import { CONFIG, network, startYavio, useFakeNetwork } from "./harness";

type TestWindow = Window & { openai?: unknown; __YAVIO__?: unknown };
const page = window as TestWindow;

const config = (traceId: string) => ({ ...CONFIG, traceId });

describe("config resolution", () => {
  afterEach(() => {
    delete page.openai;
    delete page.__YAVIO__;
  });

  it("prefers an explicit config over everything the page offers", () => {
    page.openai = { toolResponseMetadata: { yavio: config("tr_openai") } };
    page.__YAVIO__ = config("tr_injected");
    expect(resolveConfig(config("tr_explicit"))?.traceId).toBe("tr_explicit");
  });

  it("reads a tool result's _meta.yavio, or a _meta object's yavio", () => {
    expect(resolveConfig({ structuredContent: {}, _meta: { yavio: config("tr_result") } })?.traceId).toBe(
      "tr_result",
    );
    expect(resolveConfig({ "openai/outputTemplate": "ui://x", yavio: config("tr_meta") })?.traceId).toBe(
      "tr_meta",
    );
  });

  it("falls back to ChatGPT's toolResponseMetadata, then to window.__YAVIO__", () => {
    page.__YAVIO__ = config("tr_injected");
    expect(resolveConfig()?.traceId).toBe("tr_injected");
    page.openai = { toolResponseMetadata: { yavio: config("tr_openai") } };
    expect(resolveConfig()?.traceId).toBe("tr_openai");
  });

  it("skips an incomplete config and takes the next complete one", () => {
    page.__YAVIO__ = config("tr_injected");
    expect(resolveConfig({ token: CONFIG.token, endpoint: CONFIG.endpoint })?.traceId).toBe("tr_injected");
    expect(resolveConfig({ _meta: { yavio: { ...CONFIG, sessionId: "" } } })?.traceId).toBe("tr_injected");
  });

  it("is null when nothing complete is anywhere", () => {
    expect(resolveConfig()).toBeNull();
    expect(resolveConfig({ _meta: {} })).toBeNull();
  });

  it("keeps stepSequence only when it is a whole number from 0", () => {
    expect(resolveConfig({ ...CONFIG, stepSequence: 4 })?.stepSequence).toBe(4);
    expect(resolveConfig({ ...CONFIG, stepSequence: -1 })?.stepSequence).toBeUndefined();
    expect(resolveConfig({ ...CONFIG, stepSequence: "4" })?.stepSequence).toBeUndefined();
  });

  it("accepts the server base (what the Python SDK sends) or the full events URL", () => {
    expect(eventsUrl("https://ingest.example.com")).toBe("https://ingest.example.com/v1/events");
    expect(eventsUrl("https://ingest.example.com/")).toBe("https://ingest.example.com/v1/events");
    expect(eventsUrl("https://ingest.example.com/v1/events")).toBe("https://ingest.example.com/v1/events");
  });
});

describe("without a config", () => {
  useFakeNetwork();

  it("is a no-op: no listener added, nothing sent, every method safe", async () => {
    const onWindow = vi.spyOn(window, "addEventListener");
    const onDocument = vi.spyOn(document, "addEventListener");
    const pushState = history.pushState;

    const yavio = startYavio(null);
    yavio.step("room_selected");
    yavio.track("clicked", { a: 1 });
    yavio.conversion("booked", { value: 1, currency: "EUR" });
    yavio.identify("user_1");
    document.body.click();
    window.dispatchEvent(new Event("pagehide"));
    await yavio.flush();
    await vi.advanceTimersByTimeAsync(10_000);
    await yavio.shutdown();

    expect(onWindow).not.toHaveBeenCalled();
    expect(onDocument).not.toHaveBeenCalled();
    expect(history.pushState).toBe(pushState);
    expect(network.requests).toEqual([]);
    expect(network.beacons).toEqual([]);
  });
});

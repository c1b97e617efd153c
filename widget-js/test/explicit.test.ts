import { describe, expect, it, vi } from "vitest";
import { CONFIG, flushAll, network, startYavio, useFakeNetwork } from "./harness";

useFakeNetwork();

const explicitOnly = { autoCapture: false };

describe("step", () => {
  it("continues the server's step numbering from the config's stepSequence", async () => {
    const yavio = startYavio({ ...CONFIG, stepSequence: 3 }, explicitOnly);
    yavio.step("room_selected");
    yavio.step("details_completed", { nights: 2 });
    await flushAll(yavio);

    expect(
      network.events("step").map((event) => [event.event_name, event.step_sequence, event.metadata]),
    ).toEqual([
      ["room_selected", 3, undefined],
      ["details_completed", 4, { nights: 2 }],
    ]);
  });

  it("starts at 0 when the server took no step", async () => {
    const { stepSequence: _omitted, ...withoutSteps } = CONFIG;
    const yavio = startYavio(withoutSteps, explicitOnly);
    yavio.step("first");
    await flushAll(yavio);
    expect(network.events("step")[0].step_sequence).toBe(0);
  });
});

describe("track, conversion and identify", () => {
  it("sends each with source widget and its typed fields", async () => {
    const yavio = startYavio(CONFIG, explicitOnly);
    yavio.track("filter_changed", { stars: 4 });
    yavio.conversion("booking_completed", { value: 567, currency: "eur", room: "deluxe" });
    await flushAll(yavio);

    expect(network.events("track")[0]).toMatchObject({
      source: "widget",
      event_name: "filter_changed",
      metadata: { stars: 4 },
    });
    expect(network.events("conversion")[0]).toMatchObject({
      source: "widget",
      event_name: "booking_completed",
      conversion_value: 567,
      conversion_currency: "EUR",
      metadata: { room: "deluxe" },
    });
  });

  it("sends a conversion without a currency the ingest would reject the whole event for", async () => {
    const yavio = startYavio(CONFIG, explicitOnly);
    yavio.conversion("booking_completed", { value: 10, currency: "euros" });
    await flushAll(yavio);
    const [conversion] = network.events("conversion");
    expect(conversion.conversion_value).toBe(10);
    expect(conversion).not.toHaveProperty("conversion_currency");
    expect(console.warn).toHaveBeenCalledTimes(1);
  });

  it("identifies the user on later events, and ignores a different id afterwards", async () => {
    const yavio = startYavio(CONFIG, explicitOnly);
    yavio.identify("user_42", { plan: "pro" });
    yavio.track("after");
    yavio.identify("user_99");
    await flushAll(yavio);

    expect(network.events("identify")).toHaveLength(1);
    expect(network.events("identify")[0]).toMatchObject({ user_id: "user_42", user_traits: { plan: "pro" } });
    expect(network.events("track")[0].user_id).toBe("user_42");
  });
});

describe("PII in explicit properties", () => {
  it("is redacted in the page, before anything is sent, at any depth", async () => {
    const yavio = startYavio(CONFIG, explicitOnly);
    const properties = {
      guest: { email: "jane@example.com", phones: ["call +1 (555) 123-4567"] },
      card: "4111 1111 1111 1111",
      nights: 2,
    };
    yavio.track("checkout", properties);
    yavio.identify("user_1", { email: "jane@example.com" });
    yavio.conversion("paid", { value: 5, currency: "USD", note: "ssn 123-45-6789" });
    await flushAll(yavio);

    expect(network.events("track")[0].metadata).toEqual({
      guest: { email: "[EMAIL_REDACTED]", phones: ["call [PHONE_REDACTED]"] },
      card: "[CC_REDACTED]",
      nights: 2,
    });
    expect(network.events("identify")[0].user_traits).toEqual({ email: "[EMAIL_REDACTED]" });
    expect(network.events("conversion")[0].metadata).toEqual({ note: "ssn [SSN_REDACTED]" });
    expect(properties.guest.email).toBe("jane@example.com");
    expect(network.everythingSent()).not.toMatch(/jane@|4111 1111|123-45-6789/);
  });
});

describe("never breaking the page", () => {
  it("survives nonsense arguments, unserialisable properties and a throwing network", async () => {
    vi.stubGlobal("fetch", () => {
      throw new Error("fetch exploded");
    });
    Object.defineProperty(navigator, "sendBeacon", {
      configurable: true,
      value: () => {
        throw new Error("beacon exploded");
      },
    });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const yavio = startYavio(CONFIG);

    expect(() => {
      yavio.track(undefined as unknown as string, { big: 10n } as never);
      yavio.step(42 as unknown as string, cyclic);
      yavio.conversion("x", null as never);
      yavio.identify({} as unknown as string);
      yavio.track("fine", ["not", "an", "object"] as never);
      window.dispatchEvent(new Event("pagehide"));
    }).not.toThrow();
    await expect(yavio.flush()).resolves.toBeUndefined();
    await vi.advanceTimersByTimeAsync(30_000);
    await expect(yavio.shutdown()).resolves.toBeUndefined();
  });

  it("stops sending after shutdown", async () => {
    const yavio = startYavio(CONFIG, explicitOnly);
    yavio.track("before");
    await yavio.shutdown();
    yavio.track("after");
    window.dispatchEvent(new Event("pagehide"));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(network.events().map((event) => event.event_name)).toEqual(["before"]);
  });
});

import { describe, expect, it, vi } from "vitest";
import { SDK_VERSION } from "../src/version";
import { CONFIG, flushAll, leavePage, network, startYavio, useFakeNetwork } from "./harness";

useFakeNetwork();

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function click(target: Element, detail = 1): void {
  target.dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true, detail }));
}

function button(id: string): HTMLButtonElement {
  const element = document.createElement("button");
  element.id = id;
  element.className = "primary wide";
  element.textContent = "Book for jane@example.com";
  document.body.append(element);
  return element;
}

describe("widget_render", () => {
  it("describes the screen: viewport, pixel ratio, touch and connection type", async () => {
    vi.stubGlobal("devicePixelRatio", 2);
    Object.defineProperty(navigator, "maxTouchPoints", { configurable: true, value: 5 });
    Object.defineProperty(navigator, "connection", { configurable: true, value: { effectiveType: "4g" } });
    try {
      const yavio = startYavio();
      await flushAll(yavio);
    } finally {
      Object.defineProperty(navigator, "maxTouchPoints", { configurable: true, value: 0 });
      Object.defineProperty(navigator, "connection", { configurable: true, value: undefined });
    }

    const [render] = network.events("widget_render");
    expect(render).toMatchObject({
      viewport_width: 1024,
      viewport_height: 768,
      device_pixel_ratio: 2,
      device_touch: 1,
      connection_type: "4g",
    });
  });

  it("gives every event the common fields, tied to the tool call's trace and session", async () => {
    const yavio = startYavio();
    click(button("go"));
    await flushAll(yavio);

    const events = network.events();
    expect(events.length).toBeGreaterThanOrEqual(2);
    for (const event of events) {
      expect(event.event_id).toMatch(UUID_V4);
      expect(event.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(event).toMatchObject({
        trace_id: CONFIG.traceId,
        session_id: CONFIG.sessionId,
        source: "widget",
        sdk_version: SDK_VERSION,
      });
    }
    expect(new Set(events.map((event) => event.event_id)).size).toBe(events.length);
  });
});

describe("widget_error", () => {
  it("reports uncaught errors with PII redacted and the script's query left out", async () => {
    const yavio = startYavio();
    window.dispatchEvent(
      new ErrorEvent("error", {
        message: "TypeError: no room for jane@example.com",
        error: new TypeError("no room for jane@example.com"),
        filename: "https://widget.example/app.js?token=abc123",
        lineno: 12,
        colno: 7,
      }),
    );
    await flushAll(yavio);

    const [error] = network.events("widget_error");
    expect(error.metadata).toEqual({
      kind: "error",
      message: "TypeError: no room for [EMAIL_REDACTED]",
      source: "https://widget.example/app.js",
      line: 12,
      column: 7,
    });
  });

  it("reports unhandled promise rejections", async () => {
    const yavio = startYavio();
    window.dispatchEvent(
      new PromiseRejectionEvent("unhandledrejection", {
        promise: Promise.resolve(),
        reason: new Error("payment timed out"),
      }),
    );
    await flushAll(yavio);

    const [error] = network.events("widget_error");
    expect(error.metadata).toMatchObject({ kind: "unhandledrejection", message: "Error: payment timed out" });
  });

  it("stops reporting after 25 errors so a failing loop cannot flood the buffer", async () => {
    const yavio = startYavio();
    for (let i = 0; i < 40; i++) window.dispatchEvent(new ErrorEvent("error", { message: `boom ${i}` }));
    await flushAll(yavio);
    expect(network.events("widget_error")).toHaveLength(25);
  });
});

describe("widget_visibility", () => {
  class FakeIntersectionObserver {
    static latest: FakeIntersectionObserver;
    observed: Element[] = [];
    constructor(readonly callback: (entries: Array<{ isIntersecting: boolean }>) => void) {
      FakeIntersectionObserver.latest = this;
    }
    observe(element: Element) {
      this.observed.push(element);
    }
    disconnect() {}
    report(isIntersecting: boolean) {
      this.callback([{ isIntersecting }]);
    }
  }

  it("reports coming on screen and going off it with the time it was visible", async () => {
    vi.stubGlobal("IntersectionObserver", FakeIntersectionObserver);
    const yavio = startYavio();
    const observer = FakeIntersectionObserver.latest;
    expect(observer.observed).toEqual([document.documentElement]);

    observer.report(true);
    await vi.advanceTimersByTimeAsync(2_500);
    observer.report(false);
    await flushAll(yavio);

    const events = network.events("widget_visibility");
    expect(events.map((event) => event.metadata)).toEqual([{ visible: true }, { visible: false }]);
    expect(events[1].visible_duration_ms).toBe(2_500);
  });

  it("closes the visible period when the page goes away, in the beacon", async () => {
    vi.stubGlobal("IntersectionObserver", FakeIntersectionObserver);
    startYavio();
    FakeIntersectionObserver.latest.report(true);
    await vi.advanceTimersByTimeAsync(1_000);
    leavePage();

    const beaconed = network.beacons.flatMap((beacon) => JSON.parse(beacon.body).events);
    const last = beaconed
      .filter((event: { event_type: string }) => event.event_type === "widget_visibility")
      .pop();
    expect(last).toMatchObject({ visible_duration_ms: 1_000, metadata: { visible: false } });
  });
});

describe("widget_click and widget_rage_click", () => {
  it("reports a click with its target described by tag, id and class, never its text", async () => {
    const yavio = startYavio();
    click(button("book"));
    await flushAll(yavio);

    const [event] = network.events("widget_click");
    expect(event).toMatchObject({ click_count: 1, metadata: { target: "button#book.primary" } });
    expect(network.everythingSent()).not.toContain("jane@example.com");
  });

  /** Clicks each target, waiting `gapMs` between two clicks, then long enough to end a streak. */
  async function clicksWithGaps(targets: Element[], gapMs: number | number[]): Promise<void> {
    for (const [index, target] of targets.entries()) {
      if (index) await vi.advanceTimersByTimeAsync(Array.isArray(gapMs) ? gapMs[index - 1] : gapMs);
      click(target);
    }
    await vi.advanceTimersByTimeAsync(1_000);
  }

  it("is not a rage click at 2 fast clicks", async () => {
    const yavio = startYavio();
    const target = button("b");
    await clicksWithGaps([target, target], 100);
    await flushAll(yavio);
    expect(network.events("widget_click")).toHaveLength(2);
    expect(network.events("widget_rage_click")).toEqual([]);
  });

  it("is a rage click at 3 clicks on one element, each within 500 ms of the previous", async () => {
    const yavio = startYavio();
    const target = button("b");
    await clicksWithGaps([target, target, target], 450);
    await flushAll(yavio);
    const rage = network.events("widget_rage_click");
    expect(rage).toHaveLength(1);
    expect(rage[0]).toMatchObject({ click_count: 3, metadata: { target: "button#b.primary" } });
  });

  it("counts every click of a longer streak in one rage click", async () => {
    const yavio = startYavio();
    const target = button("b");
    await clicksWithGaps([target, target, target, target, target], 100);
    await flushAll(yavio);
    expect(network.events("widget_rage_click").map((event) => event.click_count)).toEqual([5]);
  });

  it("is not a rage click when a gap is 600 ms", async () => {
    const yavio = startYavio();
    const target = button("b");
    await clicksWithGaps([target, target, target], [100, 600]);
    await flushAll(yavio);
    expect(network.events("widget_rage_click")).toEqual([]);
  });

  it("is not a rage click when the fast clicks land on different elements", async () => {
    const yavio = startYavio();
    await clicksWithGaps([button("a"), button("b"), button("c")], 100);
    await flushAll(yavio);
    expect(network.events("widget_rage_click")).toEqual([]);
  });
});

describe("widget_link_click", () => {
  it("reports the destination's domain only, never its path or query", async () => {
    const yavio = startYavio();
    const link = document.createElement("a");
    link.href = "https://www.hotels.example/rooms/42?guest=jane@example.com";
    link.textContent = "See the room";
    link.addEventListener("click", (event) => event.preventDefault());
    document.body.append(link);
    click(link);
    await flushAll(yavio);

    const [event] = network.events("widget_link_click");
    expect(event.metadata).toEqual({ domain: "www.hotels.example", external: true });
    expect(network.everythingSent()).not.toContain("/rooms/42");
    expect(network.everythingSent()).not.toContain("jane");
  });
});

describe("widget_scroll", () => {
  function scrollPageTo(y: number): void {
    vi.stubGlobal("scrollY", y);
    document.dispatchEvent(new Event("scroll"));
  }

  function pageOfHeight(height: number): void {
    Object.defineProperty(document.documentElement, "scrollHeight", { configurable: true, value: height });
  }

  it("sends at most 4 events per second and keeps the deepest point reached", async () => {
    pageOfHeight(8_000);
    const yavio = startYavio();
    // 80 scroll events over 2 s, steadily down to the bottom (viewport 768 px).
    for (let step = 1; step <= 80; step++) {
      scrollPageTo((step / 80) * (8_000 - 768));
      await vi.advanceTimersByTimeAsync(25);
    }
    scrollPageTo(0); // back to the top: the deepest point stays
    await vi.advanceTimersByTimeAsync(1_000);
    await flushAll(yavio);

    const events = network.events("widget_scroll");
    const times = events.map((event) => Date.parse(event.timestamp));
    for (const [index, time] of times.entries()) {
      const sameSecond = times.filter((other) => other >= time && other < time + 1_000);
      expect(sameSecond.length, `events in the second from #${index}`).toBeLessThanOrEqual(4);
    }
    const depths = events.map((event) => event.scroll_depth_pct as number);
    expect(depths).toEqual([...depths].sort((a, b) => a - b));
    expect(depths.at(-1)).toBe(100);
    expect(events.length).toBeGreaterThanOrEqual(7);
  });

  it("measures a scrolling element inside the widget", async () => {
    const yavio = startYavio();
    const list = document.createElement("div");
    document.body.append(list);
    Object.defineProperties(list, {
      scrollHeight: { value: 1_000 },
      clientHeight: { value: 200 },
      scrollTop: { value: 300, configurable: true },
    });
    list.dispatchEvent(new Event("scroll"));
    await flushAll(yavio);
    expect(network.events("widget_scroll").map((event) => event.scroll_depth_pct)).toEqual([50]);
  });
});

describe("widget_form_field and widget_form_submit", () => {
  const SECRET = "hunter2-Zq9-SECRET";

  function bookingForm(): { form: HTMLFormElement; email: HTMLInputElement; password: HTMLInputElement } {
    const form = document.createElement("form");
    form.id = "booking";
    form.innerHTML =
      '<input name="email" type="email" required>' +
      '<input name="password" type="password" required>' +
      '<button type="submit">Book</button>';
    document.body.append(form);
    return {
      form,
      email: form.querySelector('[name="email"]') as HTMLInputElement,
      password: form.querySelector('[name="password"]') as HTMLInputElement,
    };
  }

  function type(field: HTMLInputElement, text: string): void {
    for (const char of text) {
      field.value += char;
      field.dispatchEvent(new InputEvent("input", { bubbles: true, data: char }));
    }
  }

  it("reports each field's name and time spent, and never what was typed", async () => {
    const yavio = startYavio();
    const { form, email, password } = bookingForm();

    email.focus();
    type(email, "jane.doe@example.com");
    await vi.advanceTimersByTimeAsync(1_200);
    password.focus();
    type(password, SECRET);
    await vi.advanceTimersByTimeAsync(800);
    password.blur();
    form.dispatchEvent(new SubmitEvent("submit", { bubbles: true, cancelable: true }));
    await flushAll(yavio);
    yavio.track("after submit");
    leavePage();

    const fields = network.events("widget_form_field");
    expect(fields.map((event) => [event.field_name, event.metadata])).toEqual([
      ["email", { field_type: "email", time_spent_ms: 1_200 }],
      ["password", { field_type: "password", time_spent_ms: 800 }],
    ]);
    const sent = network.everythingSent();
    expect(sent).not.toContain(SECRET);
    expect(sent).not.toContain("jane.doe");
  });

  it("reports a submission with its count of invalid fields", async () => {
    const yavio = startYavio();
    const { form, email } = bookingForm();
    email.value = "jane@example.com";
    form.dispatchEvent(new SubmitEvent("submit", { bubbles: true, cancelable: true }));
    await flushAll(yavio);

    const [submit] = network.events("widget_form_submit");
    expect(submit.metadata).toEqual({ form: "form#booking", status: "error", validation_errors: 1 });
  });

  it("reports a submission blocked by validation once, with every invalid field counted", async () => {
    const yavio = startYavio();
    const { form } = bookingForm();
    form.checkValidity(); // what the browser runs before a submit: `invalid` on each field
    await vi.advanceTimersByTimeAsync(0);
    await flushAll(yavio);

    const submits = network.events("widget_form_submit");
    expect(submits.map((event) => event.metadata)).toEqual([
      { form: "form#booking", status: "invalid", validation_errors: 2 },
    ]);
  });
});

describe("widget_navigation", () => {
  it("reports History API route changes and back/forward, without the query", async () => {
    const yavio = startYavio();
    history.pushState({}, "", "/rooms/42");
    history.replaceState({}, "", "/rooms/42#details");
    history.pushState({}, "", "/search?guest=jane@example.com");
    // What the browser does on Back: the URL changes, then `popstate`.
    History.prototype.replaceState.call(history, {}, "", "/rooms/42#details");
    window.dispatchEvent(new PopStateEvent("popstate"));
    await flushAll(yavio);

    const navigation = network.events("widget_navigation");
    expect(navigation.map((event) => [event.nav_from, event.nav_to, event.metadata?.trigger])).toEqual([
      ["/", "/rooms/42", "pushState"],
      ["/rooms/42", "/rooms/42#details", "replaceState"],
      ["/rooms/42#details", "/search", "pushState"],
      ["/search", "/rooms/42#details", "popstate"],
    ]);
    expect(network.everythingSent()).not.toContain("jane");
  });

  it("redacts PII in a route", async () => {
    const yavio = startYavio();
    history.pushState({}, "", "/guests/jane@example.com");
    await flushAll(yavio);
    expect(network.events("widget_navigation")[0].nav_to).toBe("/guests/[EMAIL_REDACTED]");
  });

  it("puts the History API back as it was on shutdown", async () => {
    const pushState = history.pushState;
    const yavio = startYavio();
    expect(history.pushState).not.toBe(pushState);
    await yavio.shutdown();
    expect(history.pushState).toBe(pushState);
  });
});

describe("widget_focus", () => {
  it("reports the widget's frame gaining and losing focus", async () => {
    const yavio = startYavio();
    window.dispatchEvent(new FocusEvent("focus"));
    window.dispatchEvent(new FocusEvent("blur"));
    await flushAll(yavio);
    expect(network.events("widget_focus").map((event) => event.metadata)).toEqual([
      { focused: true },
      { focused: false },
    ]);
  });
});

describe("widget_performance", () => {
  it("reports load time, first paints and time to interactive from the browser's timings", async () => {
    vi.spyOn(performance, "getEntriesByType").mockImplementation(
      (type: string) =>
        (type === "navigation"
          ? [{ loadEventEnd: 420.4, domInteractive: 210.2 }]
          : type === "paint"
            ? [
                { name: "first-paint", startTime: 120.1 },
                { name: "first-contentful-paint", startTime: 130.6 },
              ]
            : []) as unknown as PerformanceEntryList,
    );
    const yavio = startYavio();
    await vi.advanceTimersByTimeAsync(0);
    await flushAll(yavio);

    const performanceEvents = network.events("widget_performance");
    expect(performanceEvents).toHaveLength(1);
    expect(performanceEvents[0]).toMatchObject({
      load_time_ms: 420,
      metadata: { first_paint_ms: 120, first_contentful_paint_ms: 131, time_to_interactive_ms: 210 },
    });
  });
});

describe("auto-capture switched off", () => {
  it("sends only explicit events", async () => {
    const yavio = startYavio(undefined, { autoCapture: false });
    click(button("b"));
    yavio.track("opened");
    await vi.advanceTimersByTimeAsync(0);
    await flushAll(yavio);
    expect(network.events().map((event) => event.event_type)).toEqual(["track"]);
  });
});

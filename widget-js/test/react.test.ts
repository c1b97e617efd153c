import { renderHook } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { useYavio } from "../src/react";
import { CONFIG, flushAll, network, useFakeNetwork } from "./harness";

useFakeNetwork();

type TestWindow = Window & { openai?: unknown };

describe("useYavio", () => {
  it("returns one client for the page however often the component renders", async () => {
    const toolResult = { _meta: { yavio: { ...CONFIG, token: CONFIG.token + ".a" } } };
    const { result, rerender } = renderHook(() => useYavio(toolResult));
    const first = result.current;
    rerender();
    const second = renderHook(() => useYavio({ ...toolResult })).result.current;
    expect(result.current).toBe(first);
    expect(second).toBe(first);

    first.step("room_selected");
    await flushAll(first);
    expect(network.events("widget_render")).toHaveLength(1);
    expect(network.events("step")[0]).toMatchObject({ step_sequence: CONFIG.stepSequence, source: "widget" });
    await first.shutdown();
  });

  it("reads ChatGPT's toolResponseMetadata when given nothing", async () => {
    (window as TestWindow).openai = {
      toolResponseMetadata: { yavio: { ...CONFIG, token: CONFIG.token + ".b" } },
    };
    try {
      const { result } = renderHook(() => useYavio());
      result.current.track("opened");
      await flushAll(result.current);
      expect(network.events("track")[0].trace_id).toBe(CONFIG.traceId);
      await result.current.shutdown();
    } finally {
      delete (window as TestWindow).openai;
    }
  });

  it("is a no-op until a config arrives, then starts the client", async () => {
    let source: Record<string, unknown> | undefined;
    const { result, rerender } = renderHook(() => useYavio(source));
    result.current.track("too early");
    await flushAll(result.current);
    expect(network.requests).toEqual([]);

    source = { _meta: { yavio: { ...CONFIG, token: CONFIG.token + ".c" } } };
    rerender();
    result.current.track("on time");
    await flushAll(result.current);
    expect(network.events("track").map((event) => event.event_name)).toEqual(["on time"]);
    await result.current.shutdown();
  });
});

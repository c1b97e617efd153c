import { afterEach, describe, expect, it, vi } from "vitest";
import { newEventId } from "../src/events";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("event ids", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("are UUID v4 from crypto.randomUUID", () => {
    const randomUUID = vi.spyOn(crypto, "randomUUID");
    expect(newEventId()).toMatch(UUID_V4);
    expect(randomUUID).toHaveBeenCalledOnce();
  });

  it("are still UUID v4, and distinct, where randomUUID is missing (pages served over http)", () => {
    vi.stubGlobal("crypto", { getRandomValues: crypto.getRandomValues.bind(crypto) });
    const ids = Array.from({ length: 500 }, newEventId);
    for (const id of ids) expect(id).toMatch(UUID_V4);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("are still UUID v4 without any Web Crypto", () => {
    vi.stubGlobal("crypto", undefined);
    expect(newEventId()).toMatch(UUID_V4);
  });
});

// @vitest-environment node
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { redact, redactText } from "../src/pii";

interface Vector {
  name: string;
  input: unknown;
  expected: unknown;
}

// The same file tests/sdk/test_pii_vectors.py checks the Python module against.
const vectors: Vector[] = JSON.parse(
  readFileSync(new URL("../../tests/pii_vectors.json", import.meta.url), "utf8"),
);

describe("the shared PII vectors", () => {
  it("has enough cases to mean something", () => {
    expect(vectors.length).toBeGreaterThanOrEqual(40);
  });

  it.each(vectors.map((vector) => [vector.name, vector] as const))(
    "redacts like the Python module: %s",
    (_name, vector) => {
      expect(redact(vector.input)).toEqual(vector.expected);
    },
  );
});

describe("redaction", () => {
  it("never mutates its input and returns the same object when nothing is redacted", () => {
    const payload = { email: "user@example.com", nested: [{ plain: "hello" }] };
    const before = structuredClone(payload);
    const result = redact(payload);
    expect(payload).toEqual(before);
    expect(result.nested).toBe(payload.nested);
    const clean = { items: ["a", "b"], n: 3 };
    expect(redact(clean)).toBe(clean);
  });

  it("cuts a container that holds itself instead of looping", () => {
    const payload: Record<string, unknown> = { email: "user@example.com" };
    payload.self = payload;
    expect(redact(payload)).toEqual({ email: "[EMAIL_REDACTED]", self: "[Circular]" });
  });

  it("treats a non-ASCII letter as no word boundary, so it redacts there where Python would not", () => {
    // pii.py's `\w` is Unicode: it keeps "é4111…" as one word. The port errs toward redacting.
    expect(redactText("réf é4111 1111 1111 1111")).toBe("réf é[CC_REDACTED]");
  });

  it("is idempotent on text with several kinds", () => {
    const text = "Jane <jane@corp.io>, 555-123-4567, SSN 123-45-6789, 10.1.2.3, 2001:db8::1";
    const once = redactText(text);
    expect(redactText(once)).toBe(once);
  });

  const prose =
    "Processed 500 events today for tool search_products in 1.2.3 at 12:30:45; " +
    "revenue $1,234.56 across 42 regions (2022 2023 2024 2025), id 1732330000000. ";
  const hostile: Array<[string, string]> = [
    ["benign prose with digits", prose.repeat(400).slice(0, 32_000)],
    ["32000 digits", "1".repeat(32_000)],
    ["a@ repeated", "a@".repeat(16_000)],
    ["long local part", "a".repeat(31_999) + "@"],
    ["long dotted domain", "a@" + "a.".repeat(15_999)],
    ["1.1.1.1. run", "1.".repeat(16_000)],
    ["spaced digits", "1 ".repeat(16_000)],
    ["dashed digits", "1-".repeat(16_000)],
    ["ipv6-ish run", "1::".repeat(10_666)],
    ["seven groups", "1:1:1:1:1:1:1 ".repeat(2_300).slice(0, 32_000)],
    ["address-ish", "12 Main Main Main Main Main ".repeat(1_200).slice(0, 32_000)],
    ["area codes", "(555) ".repeat(5_333)],
    ["country codes", "+1 ".repeat(10_666)],
    ["bearer run", "Bearer ".repeat(4_571)],
    ["jwt-ish", "eyJa.".repeat(6_400)],
    ["luhn-invalid cards", "4111 1111 1111 1112 ".repeat(1_600).slice(0, 32_000)],
  ];

  it.each(hostile)("redacts 32,000 characters of %s in well under 100 ms", (_name, text) => {
    let best = Infinity;
    for (let run = 0; run < 3; run++) {
      const start = performance.now();
      redactText(text);
      best = Math.min(best, performance.now() - start);
    }
    expect(best).toBeLessThan(100);
  });
});

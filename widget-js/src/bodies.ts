/** A request body holding `count` events, in queue order. */
export interface Body {
  text: string;
  count: number;
}

const encoder = new TextEncoder();

export function utf8Bytes(text: string): number {
  return encoder.encode(text).length;
}

/**
 * Packs serialised events into envelopes `{...envelope, "events": [...]}`, each at most
 * `maxBytes` of UTF-8 and `maxEvents` events, every event exactly once and in order.
 * `events` holds each event's JSON and its size, measured once when it was queued.
 */
export function packBodies(
  events: ReadonlyArray<{ json: string; bytes: number }>,
  envelope: Record<string, unknown>,
  maxBytes: number,
  maxEvents = Infinity,
): Body[] {
  const head = JSON.stringify(envelope).slice(0, -1);
  const open = (head.length > 1 ? head + "," : head) + '"events":[';
  const frame = utf8Bytes(open) + 2; // and the closing `]}`
  const bodies: Body[] = [];
  let parts: string[] = [];
  let size = frame;
  const close = () => {
    bodies.push({ text: open + parts.join(",") + "]}", count: parts.length });
    parts = [];
    size = frame;
  };
  for (const event of events) {
    const added = event.bytes + (parts.length ? 1 : 0);
    if (parts.length && (size + added > maxBytes || parts.length >= maxEvents)) close();
    size += event.bytes + (parts.length ? 1 : 0);
    parts.push(event.json);
  }
  if (parts.length) close();
  return bodies;
}

/**
 * `addEventListener` with the handler guarded: a failure in analytics must never reach the
 * page. Returns the function that removes the listener.
 */
export function listen<E extends Event>(
  target: EventTarget,
  type: string,
  handler: (event: E) => void,
  options: AddEventListenerOptions = {},
): () => void {
  const guarded = (event: Event) => {
    try {
      handler(event as E);
    } catch {
      // Analytics lost for this one event; the page carries on.
    }
  };
  target.addEventListener(type, guarded, options);
  return () => target.removeEventListener(type, guarded, options);
}

/** Document-wide capture listener that never blocks scrolling or input. */
export const WATCH: AddEventListenerOptions = { capture: true, passive: true };

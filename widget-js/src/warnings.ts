const warned = new Set<string>();

/**
 * The only way this package talks to the console: one `console.warn` per distinct message per
 * page, so a widget that keeps failing (say, an expired token) never floods its host's console.
 */
export function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  try {
    console.warn("yavio: " + message);
  } catch {
    // A host that replaced `console` with something broken gets silence, not an exception.
  }
}

import { useMemo } from "react";
import { createYavio, NOOP_YAVIO, type Yavio, type YavioOptions } from "./client";
import { resolveConfig, type ConfigSource } from "./config";

export type { ConversionDetails, Properties, Yavio, YavioOptions } from "./client";
export type { ConfigSource, YavioConfig } from "./config";

// One client per widget token (one per trace) for the page's lifetime, however many components
// use the hook and however often React renders or remounts them: each client captures the
// page once, and its last events leave by beacon when the page goes away.
const clients = new Map<string, Yavio>();

/**
 * The widget's analytics in a React component: `useYavio(toolResult)` or `useYavio()` to read
 * ChatGPT's `window.openai.toolResponseMetadata` or `window.__YAVIO__`. Returns a no-op object
 * until a config is available, then the same client on every render.
 */
export function useYavio(source?: ConfigSource, options?: YavioOptions): Yavio {
  const config = resolveConfig(source);
  const token = config?.token;
  return useMemo(() => {
    if (!config || !token) return NOOP_YAVIO;
    let client = clients.get(token);
    if (!client) {
      client = createYavio(config, options);
      clients.set(token, client);
    }
    return client;
    // The token names the config: a new render with the same token reuses its client.
  }, [token]);
}

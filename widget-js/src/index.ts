/**
 * yavio-widget: analytics for ChatGPT App and MCP widgets. `createYavio()` reads the config the
 * server put in the tool result and captures the widget's events; `yavio-widget/react` has the
 * `useYavio()` hook.
 */
export { createYavio } from "./client";
export type { ConversionDetails, Properties, Yavio, YavioOptions } from "./client";
export type { ConfigSource, YavioConfig } from "./config";

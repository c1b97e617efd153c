// Drives a widget page in the system's Chromium the way a person would, for the browser
// end-to-end test (tests/widget/test_browser.py): click, rage-click, scroll to the bottom, fill
// and submit the form, follow the outbound link, focus an embedded frame and come back, go to
// the next view, then close the page so the hook's pagehide beacon goes out.
//
//   node e2e/drive.mjs http://127.0.0.1:PORT/ [--name TEXT] [--secret TEXT]
//
// Prints one JSON object on stdout: long tasks and long animation frames seen while the page
// loaded, the requests to the ingest Playwright saw while the page was open (not the beacon
// sent as it closes: the page under test reports that one itself), and the page's console
// errors.
import { chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
// A quiet, fresh browser: no sync, updates or background traffic to wait for or to leak.
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync",
];
const LONG_TASK_MS = 50;
const HOOK_SCRIPT = "/yavio-widget.js";

const [url, ...rest] = process.argv.slice(2);
if (!url) {
  console.error("usage: node e2e/drive.mjs PAGE_URL [--name TEXT] [--secret TEXT]");
  process.exit(2);
}
// What to type into the form's name and password fields (the test checks none of it is stored).
const option = (flag, fallback) => {
  const at = rest.indexOf(flag);
  return at >= 0 && at + 1 < rest.length ? rest[at + 1] : fallback;
};
const name = option("--name", "Grace Hopper");
const secret = option("--secret", "correct-horse-battery-staple");

// Runs in the page before any of its scripts, so the observers see the whole load.
function observeLongWork() {
  window.__longTasks = [];
  window.__longFrames = [];
  const watch = (type, keep) => {
    try {
      new PerformanceObserver((list) => list.getEntries().forEach(keep))
        .observe({ type, buffered: true });
    } catch {
      // An entry type this Chromium does not know: nothing to report for it.
    }
  };
  watch("longtask", (entry) => window.__longTasks.push({
    startTime: entry.startTime, duration: entry.duration, name: entry.name,
  }));
  // Long animation frames name the scripts that ran in them: that is what attributes a
  // long frame to the hook rather than to the page or the browser.
  watch("long-animation-frame", (entry) => window.__longFrames.push({
    startTime: entry.startTime, duration: entry.duration,
    scripts: entry.scripts.map((script) => ({
      sourceURL: script.sourceURL, invoker: script.invoker, duration: script.duration,
    })),
  }));
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const report = { url, longTasks: [], longFrames: [], hookLongFrames: [], requests: [],
                   consoleErrors: [], pageErrors: [], steps: [] };
  try {
    // A new context is a fresh, in-memory profile: no state from any earlier run.
    const context = await browser.newContext({ viewport: { width: 800, height: 600 } });
    await context.addInitScript(observeLongWork);
    context.on("request", (request) => {
      if (!request.url().includes("/v1/events")) return;
      const seen = { method: request.method(), url: request.url().replace(/token=[^&]+/, "token=…"),
                     type: request.resourceType(),
                     bearer: /^Bearer /.test(request.headers().authorization || ""),
                     tokenInBody: false, events: [], status: null, failure: null };
      try {
        const body = JSON.parse(request.postData() || "null");
        if (body) {
          seen.tokenInBody = typeof body.token === "string";
          seen.events = (body.events || []).map((event) => event.event_type);
        }
      } catch {
        seen.body = "unparsable";
      }
      report.requests.push(seen);
      request.response().then((response) => { seen.status = response && response.status(); },
                              () => {});
    });
    context.on("requestfailed", (request) => {
      const seen = report.requests.find((entry) => entry.url === request.url() && !entry.status);
      if (seen) seen.failure = request.failure() && request.failure().errorText;
    });

    const page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") {
        report.consoleErrors.push(`${message.type()}: ${message.text()}`);
      }
    });
    page.on("pageerror", (error) => report.pageErrors.push(String(error)));

    await page.goto(url, { waitUntil: "load" });
    await page.waitForSelector("body[data-ready=yes]", { timeout: 15000 });
    await pause(500);  // let the load's last tasks finish before reading the observers
    const load = await page.evaluate(() => ({
      tasks: window.__longTasks, frames: window.__longFrames,
      hookStartMs: performance.getEntriesByName("yavio:createYavio")
        .map((measure) => measure.duration)[0],
    }));
    report.longTasks = load.tasks.filter((task) => task.duration > LONG_TASK_MS);
    // Every long animation frame (50 ms or more by definition) with the time the widget's own
    // scripts took in it: the hook's file, and the page's module, which only starts the hook
    // (the hook's work at start-up runs inside that module's task, so it is named after it).
    const widgetScripts = new Set([new URL(HOOK_SCRIPT, url).href, new URL(url).href]);
    report.longFrames = load.frames.map((frame) => ({
      startTime: Math.round(frame.startTime), duration: Math.round(frame.duration),
      widgetMs: Math.round(frame.scripts.filter((script) => widgetScripts.has(script.sourceURL))
        .reduce((sum, script) => sum + script.duration, 0)),
      scripts: frame.scripts.map((script) =>
        `${script.invoker} [${script.sourceURL}] ${Math.round(script.duration)} ms`),
    }));
    report.hookLongFrames = report.longFrames.filter((frame) => frame.widgetMs >= LONG_TASK_MS);
    report.hookStartMs = load.hookStartMs;
    report.steps.push("loaded");

    await page.click("#details");
    report.steps.push("clicked");

    // Three clicks on one element, each well within the hook's 500 ms window.
    const price = await page.locator("#price").boundingBox();
    for (let i = 0; i < 3; i += 1) {
      await page.mouse.click(price.x + price.width / 2, price.y + price.height / 2);
      await pause(60);
    }
    report.steps.push("rage-clicked");

    await page.mouse.move(400, 300);
    for (let i = 0; i < 8; i += 1) {
      await page.mouse.wheel(0, 600);
      await pause(80);
    }
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    await pause(400);  // past the hook's scroll throttle (at most 4 events a second)
    report.scrollY = await page.evaluate(() => window.scrollY);
    report.steps.push("scrolled");

    await page.click("#guest_name");
    await page.keyboard.type(name);
    await page.click("#guest_email");
    await page.keyboard.type("ada@example.com");
    await page.click("#door_code");
    await page.keyboard.type(secret);
    await page.click("#save");
    report.steps.push("submitted");

    await page.click("#partner");
    report.steps.push("link-clicked");

    // Into the embedded map and back: the widget's window loses, then regains, the focus.
    await page.frameLocator("#map").locator("#pin").click();
    await pause(100);
    await page.click("#title");
    report.steps.push("refocused");

    await page.click("#next");
    await page.waitForFunction(() => location.pathname === "/booking/confirm");
    report.steps.push("navigated");

    await pause(300);
    // Closing fires pagehide: the hook's beacon carries whatever is still queued.
    await page.close();
    report.steps.push("closed");
    await pause(1500);  // the beacon is sent by the browser after the page is gone
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(report) + "\n");
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});

// Browser half of bench_sidebar.py (playwright-core from tests/browser's node_modules).
import { createRequire } from "node:module";

const require = createRequire(new URL("../tests/browser/package.json", import.meta.url));
const { chromium } = require("playwright-core");
const config = JSON.parse(process.env.SCENARIO_CONFIG);

const browser = await chromium.launch({
  executablePath: config.chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--js-flags=--expose-gc", "--enable-precise-memory-info"],
});
const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();

async function ready() {
  await page.waitForFunction(() => window.jupyterapp !== undefined, null, { timeout: 60000 });
  await page.waitForSelector("#ml-intern-sidebar", { state: "attached", timeout: 60000 });
}

try {
  if (config.step === "events") {
    await page.goto(`${config.url}/lab/tree/bench.ipynb?token=${config.token}`);
    await ready();
    await page.waitForFunction(() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === "idle", null, { timeout: 60000 });
    await page.evaluate(() => window.jupyterapp.commands.execute("ml-intern:open-sidebar"));
    await page.evaluate(() => {
      window.__seen = [];
      const panel = document.getElementById("ml-intern-sidebar");
      new MutationObserver(() => {
        const title = panel.querySelector(".mlij-row-title")?.textContent ?? "";
        const m = /^ev-(\d+)-([\d.]+)$/.exec(title);
        if (m && window.__seen[window.__seen.length - 1]?.i !== Number(m[1])) {
          window.__seen.push({ i: Number(m[1]), ms: performance.timeOrigin + performance.now() - Number(m[2]) });
        }
      }).observe(panel, { subtree: true, childList: true, characterData: true });
    });
    await page.evaluate(async () => {
      const nb = window.jupyterapp.shell.currentWidget;
      nb.content.activeCellIndex = 0;
      await window.jupyterapp.commands.execute("notebook:run-cell");
    });
    await page.waitForFunction(() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === "idle", null, { timeout: 30000 });
    await page.waitForTimeout(1000);
    await page.evaluate(async () => {
      const nb = window.jupyterapp.shell.currentWidget;
      nb.content.activeCellIndex = 1;
      await window.jupyterapp.commands.execute("notebook:run-cell");
    });
    await page.waitForFunction((n) => window.__seen.some((s) => s.i === n - 1), config.events, { timeout: 120000 });
    const seen = await page.evaluate(() => window.__seen);
    console.log(JSON.stringify({ latencies: seen.map((s) => s.ms) }));
  } else {
    // Hold the session list until the app is idle and the panel shown, so
    // the figure is the panel's own work (reducer, React, layout, paint).
    let release;
    const held = new Promise((r) => (release = r));
    await page.route(/\/ml-intern\/api\/sessions\?/, async (route) => {
      await held;
      await route.continue();
    });
    await page.goto(`${config.url}/lab?token=${config.token}`);
    await ready();
    await page.evaluate(() => window.jupyterapp.shell.activateById("ml-intern-sidebar"));
    await page.waitForTimeout(3000);
    await page.evaluate((n) => {
      window.__rowsAt = null;
      const panel = document.getElementById("ml-intern-sidebar");
      const check = () => {
        if (window.__rowsAt === null && panel.querySelectorAll(".mlij-row").length >= n) {
          // the frame after the rows went in: layout and paint included
          requestAnimationFrame(() => setTimeout(() => (window.__rowsAt = performance.now()), 0));
          window.__rowsAt = -1;
        }
      };
      new MutationObserver(check).observe(panel, { subtree: true, childList: true });
    }, Math.max(1, config.sessions));
    release();
    if (config.sessions > 0) {
      await page.waitForFunction(() => window.__rowsAt > 0, null, { timeout: 60000 });
    } else {
      await page.waitForTimeout(1500);
    }
    const result = await page.evaluate(async (n) => {
      const list = performance.getEntriesByType("resource").find((e) => e.name.includes("/ml-intern/api/sessions"));
      const renderMs = n > 0 && list ? window.__rowsAt - list.responseEnd : 0;
      const panel = document.getElementById("ml-intern-sidebar");
      const rows = panel.querySelectorAll(".mlij-row").length;
      const nodes = panel.querySelectorAll("*").length;
      for (let i = 0; i < 3; i++) window.gc?.();
      await new Promise((r) => setTimeout(r, 300));
      return { renderMs, rows, nodes, heap: performance.memory.usedJSHeapSize };
    }, config.sessions);
    console.log(JSON.stringify(result));
  }
} finally {
  await browser.close();
}

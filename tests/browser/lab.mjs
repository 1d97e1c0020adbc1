// Helpers for the browser scenarios: launch Debian's Chromium through
// playwright-core (never a downloaded browser), open JupyterLab, run cells,
// take screenshots, print one JSON result for the Python side.

import { chromium } from "playwright-core";
import path from "node:path";

export const config = JSON.parse(process.env.SCENARIO_CONFIG || "{}");

export async function launch() {
  const browser = await chromium.launch({
    executablePath: config.chromium,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
  return { browser, context, page };
}

let shotCount = 0;
export async function shot(page, name) {
  shotCount += 1;
  const file = path.join(config.screenshots, `${String(shotCount).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

export async function openNotebook(page, name) {
  await page.goto(`${config.url}/lab/tree/${name}?token=${config.token}`);
  await page.waitForFunction(() => window.jupyterapp !== undefined, null, { timeout: 60000 });
  await page.waitForSelector(".jp-NotebookPanel .jp-Cell", { timeout: 60000 });
  // the kernel is up and idle
  await page.waitForFunction(
    () => {
      const panel = window.jupyterapp.shell.currentWidget;
      const kernel = panel?.sessionContext?.session?.kernel;
      return kernel && kernel.status === "idle";
    },
    null,
    { timeout: 60000 },
  );
}

export async function command(page, id, args = {}) {
  await page.evaluate(([id, args]) => window.jupyterapp.commands.execute(id, args), [id, args]);
}

/** What the notebook's scroll viewport shows right now. */
export async function viewport(page) {
  return page.evaluate(() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const scroller = panel.content.node.querySelector(".jp-WindowedPanel-outer") || panel.content.node;
    const box = scroller.getBoundingClientRect();
    const cells = [...panel.content.node.querySelectorAll(".jp-Cell")];
    const visible = cells.filter((c) => {
      const r = c.getBoundingClientRect();
      return r.height > 0 && r.bottom > box.top + 1 && r.top < box.bottom - 1 && c.offsetParent !== null;
    });
    const transcripts = [...panel.content.node.querySelectorAll(".jp-OutputArea-output .mlij")];
    const last = transcripts[transcripts.length - 1];
    const end = last ? last.getBoundingClientRect().bottom : null;
    return {
      transcriptEndVisible: end !== null && end > box.top && end <= box.bottom + 1,
      scrollTop: scroller.scrollTop,
      scrollHeight: scroller.scrollHeight,
      clientHeight: scroller.clientHeight,
      cellsInDom: cells.length,
      visibleCells: visible.length,
      activeCell: panel.content.activeCellIndex,
      cells: cells.map((c) => {
        const r = c.getBoundingClientRect();
        return { top: Math.round(r.top - box.top), height: Math.round(r.height), cv: getComputedStyle(c).contentVisibility };
      }),
    };
  });
}

export function done(result) {
  console.log(JSON.stringify(result));
}

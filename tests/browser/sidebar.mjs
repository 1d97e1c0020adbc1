// Helpers for the sidebar scenarios: the ML Intern panel's rows and statuses.

export async function openPanel(page) {
  await page.evaluate(() => window.jupyterapp.commands.execute("ml-intern:open-sidebar"));
  await page.waitForSelector("#ml-intern-sidebar .mlij-sidebar", { timeout: 30000 });
}

/** Start recording every status text each row shows (read with `statuses`). */
export async function recordStatuses(page) {
  await page.evaluate(() => {
    window.__mlijSeen = {};
    const note = () => {
      for (const row of document.querySelectorAll("#ml-intern-sidebar .mlij-row")) {
        const id = row.dataset.sessionId;
        const text = row.querySelector(".mlij-row-status")?.textContent ?? "";
        const seen = (window.__mlijSeen[id] ||= []);
        if (seen[seen.length - 1] !== text) seen.push(text);
      }
    };
    new MutationObserver(note).observe(document.getElementById("ml-intern-sidebar"), {
      subtree: true,
      childList: true,
      characterData: true,
    });
    note();
  });
}

export async function statuses(page) {
  return page.evaluate(() => window.__mlijSeen);
}

/** The session ids of the rows whose group is `notebook` (a path's tail). */
export async function rowsOf(page, notebook) {
  return page.evaluate((nb) => {
    const groups = [...document.querySelectorAll("#ml-intern-sidebar .mlij-group")];
    const group = groups.find((g) => (g.dataset.notebook || "").endsWith(nb));
    return group ? [...group.querySelectorAll(".mlij-row")].map((r) => r.dataset.sessionId) : [];
  }, notebook);
}

export async function waitForRow(page, notebook, timeout = 60000) {
  await page.waitForFunction(
    (nb) =>
      [...document.querySelectorAll("#ml-intern-sidebar .mlij-group")].some(
        (g) => (g.dataset.notebook || "").endsWith(nb) && g.querySelector(".mlij-row"),
      ),
    notebook,
    { timeout },
  );
  return (await rowsOf(page, notebook))[0];
}

export function row(page, id) {
  return page.locator(`#ml-intern-sidebar .mlij-row[data-session-id="${id}"]`);
}

export async function status(page, id) {
  return row(page, id).locator(".mlij-row-status").textContent();
}

export async function waitForStatus(page, id, test, timeout = 60000) {
  const started = Date.now();
  await page.waitForFunction(
    ([id, source]) => {
      const el = document.querySelector(`#ml-intern-sidebar .mlij-row[data-session-id="${id}"] .mlij-row-status`);
      return el && new RegExp(source).test(el.textContent);
    },
    [id, test.source],
    { timeout },
  );
  return Date.now() - started;
}

export async function activate(page, path) {
  await page.evaluate((path) => window.jupyterapp.commands.execute("docmanager:open", { path }), path);
  await page.waitForFunction((path) => window.jupyterapp.shell.currentWidget?.context?.path === path, path, {
    timeout: 30000,
  });
}

/** Open `path` in the running Lab (no page reload) and wait for its kernel to be idle. */
export async function openInApp(page, path) {
  await activate(page, path);
  await page.waitForFunction(
    (path) => {
      const panel = window.jupyterapp.shell.currentWidget;
      const kernel = panel?.sessionContext?.session?.kernel;
      return panel?.context?.path === path && kernel && kernel.status === "idle";
    },
    path,
    { timeout: 60000 },
  );
}

export async function runAll(page) {
  await page.evaluate(() => window.jupyterapp.commands.execute("notebook:run-all-cells"));
}

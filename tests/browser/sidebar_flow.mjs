// The sidebar end to end: a session appears and goes streaming -> waiting;
// approve from the panel; idle with tokens and cost; a notification for a
// session in a notebook not in view; restart -> expired; stop and archive.
import { config, launch, shot, openNotebook, done } from "./lab.mjs";
import { openPanel, recordStatuses, statuses, waitForRow, waitForStatus, row, status, activate, openInApp, runAll } from "./sidebar.mjs";

const { browser, page } = await launch();
const out = {};
try {
  // 1. a session appears, streams, then waits for approval
  await openNotebook(page, config.first);
  await openPanel(page);
  await recordStatuses(page);
  await shot(page, "empty-panel");
  out.emptyText = await page.textContent("#ml-intern-sidebar .mlij-empty");
  await runAll(page);
  const first = await waitForRow(page, config.first);
  out.first = first;
  await waitForStatus(page, first, /^waiting for approval \(1\)$/);
  await shot(page, "first-waiting");
  out.pendingTool = await row(page, first).locator(".mlij-approval-tool").textContent();

  // 2. approve from the panel: the cell shows it approved, the turn completes
  await row(page, first).locator(".mlij-approve").click();
  await waitForStatus(page, first, /^idle$/);
  await page.waitForTimeout(500);
  await shot(page, "first-idle");
  out.firstMeta = await row(page, first).locator(".mlij-row-meta").textContent();
  out.cellText = await page.evaluate(() => window.jupyterapp.shell.currentWidget.content.node.textContent);
  out.firstStatuses = (await statuses(page))[first];

  // 3. another notebook in view; a second session asks for approval
  // in the running Lab: a reload would restore the first notebook's tab in front
  await openInApp(page, config.second);
  await recordStatuses(page);
  await runAll(page);
  await activate(page, config.first);
  const second = await waitForRow(page, config.second);
  out.second = second;
  await waitForStatus(page, second, /^waiting for approval/);
  const toast = page.locator(".Toastify__toast", { hasText: "approval" });
  await toast.first().waitFor({ timeout: 10000 });
  await shot(page, "notification");
  out.toastText = await toast.first().textContent();
  // the toast may still be sliding in (partly outside the viewport): dispatch the click
  await toast.first().locator("button", { hasText: "Show session" }).dispatchEvent("click");
  await page.waitForFunction((p) => window.jupyterapp.shell.currentWidget?.context?.path === p, config.second, {
    timeout: 10000,
  });
  out.highlighted = await page.evaluate(() => document.querySelector("#ml-intern-sidebar .mlij-highlight")?.dataset.sessionId);
  await shot(page, "revealed");

  // 5. stop the waiting session from the panel, then archive it
  await row(page, second).locator(".mlij-stop").click();
  await waitForStatus(page, second, /^(idle|error)$/, 30000);
  await shot(page, "second-stopped");
  await row(page, second).locator(".mlij-archive").click();
  await waitForStatus(page, second, /^archived$/, 10000);
  await shot(page, "second-archived");

  // 4. restart the first notebook's kernel: its session expires
  await activate(page, config.first);
  await page.evaluate(() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart());
  out.expiredAfterMs = await waitForStatus(page, first, /^expired — needs a catch-up$/, 15000);
  await shot(page, "first-expired");
  out.final = { first: await status(page, first), second: await status(page, second) };
  done(out);
} catch (e) {
  await shot(page, "failure");
  done({ error: String(e), ...out });
} finally {
  await browser.close();
}

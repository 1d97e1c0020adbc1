// A long streamed turn with one approved call ends; the live view is replaced
// by the static transcript. The notebook must still show cells (issue: an
// empty viewport until the user scrolled).
import { config, launch, shot, openNotebook, command, viewport, done } from "./lab.mjs";

const { browser, page } = await launch();
try {
  await openNotebook(page, config.notebook);
  await command(page, "notebook:run-all-cells");
  const approve = page.locator(".jp-OutputArea button", { hasText: /^Approve$/ });
  await approve.first().waitFor({ timeout: 90000 });
  await shot(page, "waiting-for-approval");
  const during = await viewport(page);
  await approve.first().click();
  // the turn ends: the transcript (static HTML) replaces the live view
  await page.waitForFunction(
    () => {
      const outs = document.querySelectorAll(".jp-OutputArea-output .mlij");
      const live = [...document.querySelectorAll(".jp-OutputArea button")].some(
        (b) => b.textContent === "Stop",
      );
      return outs.length > 0 && !live;
    },
    null,
    { timeout: 90000 },
  );
  await page.waitForTimeout(1500);
  await shot(page, "after-transcript");
  const after = await viewport(page);
  done({ during, after });
} finally {
  await browser.close();
}

/** Where a session's recorded notebook lives in the server's contents. */

/**
 * The contents path (relative to the server root) of a notebook the kernel
 * recorded, or null when it is no notebook (`dir:...`, empty) or lies
 * outside the root. Kernels record the OS path Jupyter Server gives them
 * (`JPY_SESSION_NAME`: the root joined with the notebook's path).
 */
export function contentsPath(notebook: string, serverRoot: string): string | null {
  if (!notebook || notebook.startsWith('dir:')) {
    return null;
  }
  const path = notebook.replace(/\\/g, '/');
  const root = serverRoot.replace(/\\/g, '/').replace(/\/+$/, '');
  const absolute = path.startsWith('/') || /^[A-Za-z]:\//.test(path);
  if (!absolute) {
    return path.replace(/^\.\//, '');
  }
  if (root.startsWith('~')) {
    // Jupyter Server shows a root under the home as "~/...": the home is
    // whatever comes before the rest of the root in the recorded path.
    const rest = root.slice(1);
    if (!rest) {
      return null; // the home itself: unknown here (see `tailCandidates`)
    }
    const at = path.indexOf(`${rest}/`);
    return at > 0 ? path.slice(at + rest.length + 1) : null;
  }
  if (root && (path === root || path.startsWith(`${root}/`))) {
    return path.slice(root.length + 1);
  }
  if (root === '' || root === '/') {
    return path.replace(/^\/+/, '');
  }
  return null;
}

/** Whether `widgetPath` (contents path of an open notebook) is `notebook`. */
export function sameNotebook(
  notebook: string,
  widgetPath: string,
  serverRoot: string
): boolean {
  const path = contentsPath(notebook, serverRoot);
  return path !== null && path === widgetPath;
}

/** Whether the recorded `notebook` ends with the contents path `widgetPath`. */
export function endsWithPath(notebook: string, widgetPath: string): boolean {
  const path = notebook.replace(/\\/g, '/');
  return path === widgetPath || path.endsWith(`/${widgetPath}`);
}

/** Contents paths the recorded absolute path may be, longest first (for a
 * root whose place on disk the page does not know). */
export function tailCandidates(notebook: string, max = 8): string[] {
  const parts = notebook.replace(/\\/g, '/').split('/').filter(Boolean);
  const out: string[] = [];
  for (let i = 1; i < parts.length && out.length < max; i++) {
    out.push(parts.slice(i).join('/'));
  }
  return out;
}

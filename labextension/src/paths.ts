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

import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { KernelChannels } from './channel';
import { SidebarModel } from './model';
import { PanelActions, SidebarPanel } from './panel';
import { contentsPath, endsWithPath, tailCandidates } from './paths';
import { PendingCall } from './protocol';
import { ExportFormat, SessionApi } from './server';
import { DEFAULT_NOTIFY } from './notices';
import { Notifier } from './notify';
import { RowView, findRow } from './state';
import { StatusItem } from './statusbar';

const PLUGIN_ID = 'ml-intern-jupyter:plugin';
const PANEL_ID = 'ml-intern-sidebar';
const OPEN_COMMAND = 'ml-intern:open-sidebar';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161">
<path d="M12 2a5 5 0 0 1 5 5v1h1a2 2 0 0 1 2 2v3a2 2 0 0 1-2 2h-.3A6 6 0 0 1 12 21a6 6 0 0 1-5.7-6H6a2 2 0 0 1-2-2v-3a2 2 0 0 1 2-2h1V7a5 5 0 0 1 5-5zm0 2a3 3 0 0 0-3 3v1h6V7a3 3 0 0 0-3-3zM9 11a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm6 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm-5 5v1.5h4V16z"/>
</g></svg>`;

export const internIcon = new LabIcon({ name: 'ml-intern-jupyter:icon', svgstr: ICON_SVG });

function notebookPanels(app: JupyterFrontEnd): NotebookPanel[] {
  const panels: NotebookPanel[] = [];
  for (const widget of app.shell.widgets('main')) {
    if (widget instanceof NotebookPanel) {
      panels.push(widget);
    }
  }
  return panels;
}

function download(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function fileStem(row: RowView): string {
  const slug = row.title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return slug ? `${slug}-${row.id}` : row.id;
}

class Controller implements PanelActions {
  constructor(
    private readonly app: JupyterFrontEnd,
    private readonly docManager: IDocumentManager | null
  ) {
    const services = app.serviceManager;
    this.channels = new KernelChannels(services.kernels, this.model.dispatch, () => this.model.state);
    this.api = new SessionApi(services.serverSettings, this.model.dispatch);
    this.model.changed.connect((_, before) => {
      const reply = this.model.state.reply;
      if (reply && reply !== before.reply) {
        this.channels.settle(reply.request_id, reply);
      }
    });
  }

  readonly model = new SidebarModel();
  readonly channels: KernelChannels;
  readonly api: SessionApi;
  panel: SidebarPanel | null = null;

  start(): void {
    this.channels.start();
    this.api.start();
  }

  refresh(): void {
    this.channels.refresh();
    void this.api.reload();
  }

  /** The open notebook panel a session belongs to, if any. */
  panelOf(row: RowView): NotebookPanel | null {
    const path = contentsPath(row.notebook, this.serverRoot);
    const panels = notebookPanels(this.app);
    if (path !== null) {
      const byPath = panels.find(p => p.context.path === path);
      if (byPath) {
        return byPath;
      }
    } else if (row.notebook && !row.notebook.startsWith('dir:')) {
      // A root the page cannot place on disk: the longest matching tail.
      const byTail = panels
        .filter(p => endsWithPath(row.notebook, p.context.path))
        .sort((a, b) => b.context.path.length - a.context.path.length);
      if (byTail.length > 0) {
        return byTail[0];
      }
    }
    if (row.kernel) {
      const byKernel = panels.filter(p => p.sessionContext.session?.kernel?.id === row.kernel);
      if (byKernel.length === 1 || (byKernel.length > 1 && path === null)) {
        return byKernel[0];
      }
    }
    return null;
  }

  inView(sessionId: string): boolean {
    const row = findRow(this.model.state, sessionId);
    const current = this.app.shell.currentWidget;
    if (!row || !(current instanceof NotebookPanel)) {
      return false;
    }
    return this.panelOf(row) === current && document.visibilityState === 'visible';
  }

  /** Show the session in the panel, then its notebook at its cell. */
  revealSession(sessionId: string): void {
    this.app.shell.activateById(PANEL_ID);
    this.panel?.highlight(sessionId);
    const row = findRow(this.model.state, sessionId);
    if (row) {
      this.reveal(row);
    }
  }

  reveal(row: RowView): void {
    void this._reveal(row).catch(err => {
      Notification.warning(`Could not open the session’s notebook: ${String(err)}`, {
        autoClose: 5000
      });
    });
  }

  private async _reveal(row: RowView): Promise<void> {
    let panel = this.panelOf(row);
    if (!panel) {
      const path =
        contentsPath(row.notebook, this.serverRoot) ?? (await this._findNotebook(row.notebook));
      if (path === null) {
        Notification.info(
          row.notebook.startsWith('dir:')
            ? `This session was not started from a notebook (${row.notebook}).`
            : `This session’s notebook (${row.notebook || 'unknown'}) is not under this server’s root.`,
          { autoClose: 5000 }
        );
        return;
      }
      if (!this.docManager) {
        return;
      }
      const widget = this.docManager.openOrReveal(path);
      if (!(widget instanceof NotebookPanel)) {
        return; // Notebook 7 opens other notebooks in a browser tab of their own
      }
      panel = widget;
    }
    this.app.shell.activateById(panel.id);
    await panel.context.ready;
    await panel.revealed;
    if (!row.cellId) {
      return;
    }
    const notebook = panel.content;
    const index = notebook.widgets.findIndex(cell => cell.model.id === row.cellId);
    if (index < 0) {
      return;
    }
    notebook.activeCellIndex = index;
    await notebook.scrollToCell(notebook.widgets[index], 'center');
  }

  /** The contents path of an absolute notebook path, by asking the server
   * which of its tails exists (for a root shown as "~"). */
  private async _findNotebook(notebook: string): Promise<string | null> {
    if (!notebook || notebook.startsWith('dir:') || !this.docManager) {
      return null;
    }
    for (const candidate of tailCandidates(notebook)) {
      try {
        const model = await this.docManager.services.contents.get(candidate, { content: false });
        if (model.type === 'notebook') {
          return candidate;
        }
      } catch {
        // not there
      }
    }
    return null;
  }

  async decide(
    row: RowView,
    call: PendingCall,
    approved: boolean,
    feedback: string
  ): Promise<string | null> {
    if (!row.kernel) {
      return 'This session’s kernel is gone; the call cannot run any more.';
    }
    const reply = await this.channels.request(row.kernel, {
      method: 'decide',
      session_id: row.id,
      call_id: call.call_id,
      approved,
      feedback: feedback.trim() ? feedback.trim() : null
    });
    return reply.ok ? null : reply.message || 'The kernel refused.';
  }

  async stop(row: RowView): Promise<string | null> {
    if (!row.kernel) {
      return 'This session’s kernel is gone.';
    }
    const reply = await this.channels.request(row.kernel, {
      method: 'stop',
      session_id: row.id
    });
    return reply.ok ? null : reply.message || 'The kernel refused.';
  }

  async archive(row: RowView): Promise<string | null> {
    return this._api(() => this.api.archive(row.id));
  }

  async remove(row: RowView): Promise<string | null> {
    if (!row.saved) {
      this.model.dispatch({ type: 'forget', id: row.id });
      return null;
    }
    const answer = await showDialog({
      title: 'Delete this session?',
      body: `“${row.title}” and its whole history will be deleted from the session store. This cannot be undone.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return null;
    }
    return this._api(async () => {
      await this.api.remove(row.id);
      this.model.dispatch({ type: 'forget', id: row.id });
    });
  }

  async exportHistory(row: RowView, format: ExportFormat): Promise<string | null> {
    return this._api(async () => {
      const text = await this.api.exportSession(row.id, format);
      if (format === 'markdown') {
        download(`${fileStem(row)}.md`, text, 'text/markdown');
      } else {
        download(`${fileStem(row)}.jsonl`, text, 'application/x-ndjson');
      }
    });
  }

  private async _api(call: () => Promise<void>): Promise<string | null> {
    try {
      await call();
      return null;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  private readonly serverRoot = PageConfig.getOption('serverRoot');
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'ML Intern sidebar: every intern session at a glance, live, with approvals.',
  autoStart: true,
  optional: [IDocumentManager, ISettingRegistry, IStatusBar],
  activate: (
    app: JupyterFrontEnd,
    docManager: IDocumentManager | null,
    settingRegistry: ISettingRegistry | null,
    statusBar: IStatusBar | null
  ) => {
    const controller = new Controller(app, docManager);
    const panel = new SidebarPanel(controller.model, controller);
    panel.id = PANEL_ID;
    panel.title.icon = internIcon;
    panel.title.caption = 'ML Intern';
    controller.panel = panel;
    // 'left' exists in JupyterLab's shell and in Notebook 7's.
    try {
      app.shell.add(panel, 'left', { rank: 850 });
    } catch (err) {
      console.warn('ml-intern: this frontend has no left area for the panel', err);
    }

    app.commands.addCommand(OPEN_COMMAND, {
      label: 'Show the ML Intern sessions panel',
      icon: internIcon,
      execute: (args: { sessionId?: string }) => {
        if (typeof args?.sessionId === 'string') {
          controller.revealSession(args.sessionId);
        } else {
          app.shell.activateById(PANEL_ID);
        }
      }
    });

    const notifier = new Notifier(
      controller.model,
      id => controller.inView(id),
      id => controller.revealSession(id)
    );
    if (settingRegistry) {
      void settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = () => {
            const get = (key: string, fallback: unknown) => {
              const value = settings.get(key).composite;
              return value === undefined || value === null ? fallback : value;
            };
            notifier.settings = {
              approval: get('notifyApproval', DEFAULT_NOTIFY.approval) as boolean,
              error: get('notifyError', DEFAULT_NOTIFY.error) as boolean,
              turnDone: get('notifyLongTurn', DEFAULT_NOTIFY.turnDone) as boolean,
              longTurnSeconds: get('longTurnSeconds', DEFAULT_NOTIFY.longTurnSeconds) as number
            };
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => console.warn('ml-intern: settings could not be loaded', reason));
    }

    if (statusBar) {
      const item: Widget = new StatusItem(controller.model, () =>
        app.shell.activateById(PANEL_ID)
      );
      statusBar.registerStatusItem('ml-intern-jupyter:status', {
        item,
        align: 'left',
        rank: 4,
        isActive: () => true
      });
    }

    controller.start();
    window.addEventListener('beforeunload', () => controller.channels.dispose());
  }
};

export default plugin;

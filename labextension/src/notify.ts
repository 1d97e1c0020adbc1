/**
 * Notifications (JupyterLab's Notification API) for notices from kernels:
 * an approval is waiting, a session failed, a long turn finished. Only when
 * the session's notebook is not the one in view; one notification per
 * session, updated in place; each notice_id once (the reducer sees to that).
 */

import { Notification } from '@jupyterlab/apputils';

import * as fmt from './format';
import { SidebarModel } from './model';
import { DEFAULT_NOTIFY, NotifySettings, wanted } from './notices';

import { NoticeKind, NoticeMessage } from './protocol';
import { State, findRow } from './state';

const TYPES: Record<NoticeKind, Notification.TypeOptions> = {
  approval: 'warning',
  error: 'error',
  turn_done: 'success'
};

export class Notifier {
  constructor(
    private readonly model: SidebarModel,
    /** Whether the session's notebook is the one in view now. */
    private readonly inView: (sessionId: string) => boolean,
    private readonly reveal: (sessionId: string) => void
  ) {
    model.changed.connect(this._onChange, this);
  }

  settings: NotifySettings = { ...DEFAULT_NOTIFY };

  private _onChange(_: SidebarModel, before: State): void {
    const state = this.model.state;
    if (state.notice && state.notice !== before.notice) {
      this._show(state, state.notice);
    }
    // An approval notification goes once its session stops waiting.
    for (const [sessionId, entry] of this._shown) {
      if (entry.kind === 'approval') {
        const row = findRow(state, sessionId);
        if (!row || row.kind !== 'waiting') {
          Notification.dismiss(entry.id);
          this._shown.delete(sessionId);
        }
      }
    }
  }

  private _show(state: State, notice: NoticeMessage): void {
    if (!wanted(notice, this.settings) || this.inView(notice.session_id)) {
      return;
    }
    const row = findRow(state, notice.session_id);
    const title = row ? fmt.shorten(row.title, 50) : 'An intern session';
    let message = notice.message;
    if (!message) {
      message =
        notice.kind === 'approval'
          ? 'is waiting for your approval'
          : notice.kind === 'error'
            ? 'failed'
            : 'finished its turn';
    }
    const text = `${title}: ${message}`;
    const options = {
      autoClose: notice.kind === 'turn_done' ? 10000 : (false as const),
      actions: [
        {
          label: 'Show session',
          caption: 'Open the ML Intern panel at this session and its cell',
          displayType: 'accent' as const,
          callback: () => this.reveal(notice.session_id)
        }
      ]
    };
    const type = TYPES[notice.kind];
    const previous = this._shown.get(notice.session_id);
    if (previous && Notification.update({ id: previous.id, message: text, type, ...options })) {
      this._shown.set(notice.session_id, { id: previous.id, kind: notice.kind });
      return;
    }
    const id = Notification.emit(text, type, options);
    this._shown.set(notice.session_id, { id, kind: notice.kind });
  }

  private _shown = new Map<string, { id: string; kind: NoticeKind }>();
}

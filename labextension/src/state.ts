/**
 * The sidebar's state as a pure reducer: actions (kernel comm messages,
 * kernel life events, saved sessions from the REST API and the feed) in,
 * rows and groups out. No JupyterLab imports, so it is unit-tested alone.
 */

import {
  FeedMessage,
  LiveRow,
  NoticeMessage,
  PendingCall,
  ReplyMessage,
  SavedSession,
  parseKernelMessage
} from './protocol';

/** One kernel's view: the comm it speaks over and the sessions it reported. */
export interface KernelState {
  id: string;
  /** The open comm's id; messages of any other comm are stale. */
  comm: string | null;
  /** Last seq accepted on `comm` (null: nothing yet since it opened). */
  seq: number | null;
  pid: number | null;
  /** A snapshot arrived on the current comm. */
  synced: boolean;
  sessions: Record<string, LiveRow>;
}

export type ServerStatus = 'unknown' | 'ok' | 'missing' | 'error';

export interface State {
  kernels: Record<string, KernelState>;
  /** Rows last reported by a kernel that has since died, restarted or
   * closed the channel: shown as expired until a live kernel claims them. */
  orphans: Record<string, LiveRow>;
  saved: Record<string, SavedSession>;
  server: { status: ServerStatus; message: string };
  /** The newest notice not seen before (each notice_id is taken once). */
  notice: (NoticeMessage & { kernel: string }) | null;
  noticeIds: string[];
  reply: (ReplyMessage & { kernel: string }) | null;
}

export type Action =
  | { type: 'comm-open'; kernel: string; comm: string }
  | { type: 'comm-message'; kernel: string; comm: string; data: unknown }
  | { type: 'comm-closed'; kernel: string; comm: string }
  /** Restarting, dead, or its connection lost: what it reported expires. */
  | { type: 'kernel-dead'; kernel: string }
  /** Shut down: no longer among the running kernels. */
  | { type: 'kernel-gone'; kernel: string }
  | { type: 'saved'; sessions: SavedSession[] }
  | { type: 'feed'; message: FeedMessage }
  | { type: 'server'; status: ServerStatus; message: string }
  /** Deleted by the user: drop it everywhere it is not live. */
  | { type: 'forget'; id: string };

const NOTICE_MEMORY = 500;

export function initialState(): State {
  return {
    kernels: {},
    orphans: {},
    saved: {},
    server: { status: 'unknown', message: '' },
    notice: null,
    noticeIds: [],
    reply: null
  };
}

function emptyKernel(id: string): KernelState {
  return { id, comm: null, seq: null, pid: null, synced: false, sessions: {} };
}

function withoutKey<T>(record: Record<string, T>, key: string): Record<string, T> {
  if (!(key in record)) {
    return record;
  }
  const copy = { ...record };
  delete copy[key];
  return copy;
}

/** Move every session of `kernel` into the orphans (they expire). */
function orphanAll(state: State, kernel: KernelState): Record<string, LiveRow> {
  const ids = Object.keys(kernel.sessions);
  if (ids.length === 0) {
    return state.orphans;
  }
  return { ...state.orphans, ...kernel.sessions };
}

function claim(orphans: Record<string, LiveRow>, ids: string[]): Record<string, LiveRow> {
  let out = orphans;
  for (const id of ids) {
    out = withoutKey(out, id);
  }
  return out;
}

function onMessage(
  state: State,
  kernelId: string,
  comm: string,
  data: unknown
): State {
  const kernel = state.kernels[kernelId];
  if (!kernel || kernel.comm !== comm) {
    return state; // a message of a comm we no longer listen to
  }
  const msg = parseKernelMessage(data);
  if (!msg) {
    return state;
  }
  if (kernel.seq !== null && msg.seq <= kernel.seq) {
    return state; // duplicate or out of order
  }
  let next: KernelState = { ...kernel, seq: msg.seq };
  let orphans = state.orphans;
  let notice = state.notice;
  let noticeIds = state.noticeIds;
  let reply = state.reply;
  switch (msg.type) {
    case 'snapshot': {
      const sessions: Record<string, LiveRow> = {};
      for (const row of msg.sessions) {
        sessions[row.id] = row;
      }
      if (kernel.pid !== null && kernel.pid !== msg.pid) {
        // Another process: what the old one had expired with it.
        orphans = { ...orphans, ...kernel.sessions };
      }
      next = { ...next, pid: msg.pid, synced: true, sessions };
      orphans = claim(orphans, Object.keys(sessions));
      break;
    }
    case 'session':
      next = {
        ...next,
        sessions: { ...kernel.sessions, [msg.session.id]: msg.session }
      };
      orphans = claim(orphans, [msg.session.id]);
      break;
    case 'removed':
      next = { ...next, sessions: withoutKey(kernel.sessions, msg.id) };
      break;
    case 'notice':
      if (!noticeIds.includes(msg.notice_id)) {
        notice = { ...msg, kernel: kernelId };
        noticeIds = [...noticeIds, msg.notice_id].slice(-NOTICE_MEMORY);
      }
      break;
    case 'reply':
      reply = { ...msg, kernel: kernelId };
      break;
  }
  return {
    ...state,
    kernels: { ...state.kernels, [kernelId]: next },
    orphans,
    notice,
    noticeIds,
    reply
  };
}

function savedFromFeed(
  saved: Record<string, SavedSession>,
  message: FeedMessage
): Record<string, SavedSession> {
  const id = message.session?.id;
  if (typeof id !== 'string' || !id) {
    return saved;
  }
  if (message.event === 'deleted') {
    return withoutKey(saved, id);
  }
  const before = saved[id];
  const merged = { ...(before ?? {}), ...message.session } as SavedSession;
  if (message.event === 'archived') {
    merged.status = 'archived';
  }
  return { ...saved, [id]: normaliseSaved(merged) };
}

function normaliseSaved(s: Partial<SavedSession> & { id: string }): SavedSession {
  const n = (v: unknown) => (typeof v === 'number' && isFinite(v) ? v : 0);
  const t = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    ...s,
    id: s.id,
    notebook: t(s.notebook),
    title: t(s.title),
    model: t(s.model),
    status: t(s.status),
    created: n(s.created),
    updated: n(s.updated),
    turns: n(s.turns),
    prompt_tokens: n(s.prompt_tokens),
    completion_tokens: n(s.completion_tokens),
    cost_usd: n(s.cost_usd)
  };
}

export function reduce(state: State, action: Action): State {
  switch (action.type) {
    case 'comm-open': {
      const kernel = state.kernels[action.kernel] ?? emptyKernel(action.kernel);
      return {
        ...state,
        kernels: {
          ...state.kernels,
          // Sessions stay until the first snapshot replaces them.
          [action.kernel]: { ...kernel, comm: action.comm, seq: null, synced: false }
        }
      };
    }
    case 'comm-message':
      return onMessage(state, action.kernel, action.comm, action.data);
    case 'comm-closed': {
      const kernel = state.kernels[action.kernel];
      if (!kernel || kernel.comm !== action.comm) {
        return state;
      }
      return {
        ...state,
        orphans: orphanAll(state, kernel),
        kernels: {
          ...state.kernels,
          [action.kernel]: { ...kernel, comm: null, seq: null, synced: false, sessions: {} }
        }
      };
    }
    case 'kernel-dead': {
      const kernel = state.kernels[action.kernel];
      if (!kernel) {
        return state;
      }
      return {
        ...state,
        orphans: orphanAll(state, kernel),
        kernels: { ...state.kernels, [action.kernel]: emptyKernel(action.kernel) }
      };
    }
    case 'kernel-gone': {
      const kernel = state.kernels[action.kernel];
      if (!kernel) {
        return state;
      }
      return {
        ...state,
        orphans: orphanAll(state, kernel),
        kernels: withoutKey(state.kernels, action.kernel)
      };
    }
    case 'saved': {
      const saved: Record<string, SavedSession> = {};
      for (const s of action.sessions) {
        if (s && typeof s.id === 'string' && s.id) {
          saved[s.id] = normaliseSaved(s);
        }
      }
      return { ...state, saved };
    }
    case 'feed': {
      const saved = savedFromFeed(state.saved, action.message);
      if (saved === state.saved) {
        return state;
      }
      const orphans =
        action.message.event === 'deleted'
          ? withoutKey(state.orphans, action.message.session.id)
          : state.orphans;
      return { ...state, saved, orphans };
    }
    case 'server':
      return { ...state, server: { status: action.status, message: action.message } };
    case 'forget':
      return {
        ...state,
        saved: withoutKey(state.saved, action.id),
        orphans: withoutKey(state.orphans, action.id)
      };
  }
  return state;
}

// ---------------------------------------------------------------- selectors

export type RowKind =
  | 'idle'
  | 'streaming'
  | 'running'
  | 'waiting'
  | 'error'
  | 'queued'
  | 'expired'
  | 'archived';

export interface RowView {
  id: string;
  title: string;
  notebook: string;
  model: string;
  kind: RowKind;
  statusText: string;
  /** The kernel that runs it now, or null (saved or expired). */
  kernel: string | null;
  pending: PendingCall[];
  turns: number;
  tokens: number;
  cost: number;
  /** epoch seconds */
  lastActivity: number;
  cellId: string | null;
  error: string | null;
  /** Known to the server's store (archive, delete and export work). */
  saved: boolean;
}

export interface Group {
  notebook: string;
  label: string;
  lastActivity: number;
  rows: RowView[];
}

export const EXPIRED_TEXT = 'expired — needs a catch-up';

export function statusText(kind: RowKind, tool: string | null, pending: number): string {
  switch (kind) {
    case 'running':
      return tool ? `running ${tool}` : 'running';
    case 'waiting':
      return `waiting for approval (${pending})`;
    case 'expired':
      return EXPIRED_TEXT;
    default:
      return kind;
  }
}

function savedCellId(s: SavedSession | undefined): string | null {
  const cell = s?.metadata?.cell_id;
  return typeof cell === 'string' && cell ? cell : null;
}

function savedName(s: SavedSession | undefined): string {
  const name = s?.metadata?.name;
  return typeof name === 'string' ? name : '';
}

function liveView(
  row: LiveRow,
  kernel: string | null,
  saved: SavedSession | undefined
): RowView {
  let kind: RowKind = kernel === null ? 'expired' : row.status;
  if (saved?.status === 'archived' && (kind === 'idle' || kind === 'expired')) {
    kind = 'archived'; // archived from the panel or by Start fresh, nothing running
  }
  return {
    id: row.id,
    title: row.title || saved?.title || savedName(saved) || row.id,
    notebook: row.notebook || saved?.notebook || '',
    model: row.model || saved?.model || '',
    kind,
    statusText: statusText(kind, row.tool, row.pending.length),
    kernel,
    pending: kernel === null ? [] : row.pending,
    turns: row.turns,
    tokens: row.tokens,
    cost: row.cost,
    lastActivity: Math.max(row.last_activity, saved?.updated ?? 0),
    cellId: row.cell_id ?? savedCellId(saved),
    error: row.error,
    saved: saved !== undefined
  };
}

function savedView(s: SavedSession): RowView {
  const kind: RowKind = s.status === 'archived' ? 'archived' : 'expired';
  return {
    id: s.id,
    title: s.title || savedName(s) || s.id,
    notebook: s.notebook,
    model: s.model,
    kind,
    statusText: statusText(kind, null, 0),
    kernel: null,
    pending: [],
    turns: s.turns,
    tokens: s.prompt_tokens + s.completion_tokens,
    cost: s.cost_usd,
    lastActivity: s.updated,
    cellId: savedCellId(s),
    error: null,
    saved: true
  };
}

/** Every session once: live rows first (the most recently active kernel's
 * when two claim one), then expired ones, then saved-only ones. */
export function selectRows(state: State): RowView[] {
  const live = new Map<string, { row: LiveRow; kernel: string }>();
  for (const kernel of Object.values(state.kernels)) {
    for (const row of Object.values(kernel.sessions)) {
      const seen = live.get(row.id);
      if (!seen || row.last_activity > seen.row.last_activity) {
        live.set(row.id, { row, kernel: kernel.id });
      }
    }
  }
  const rows: RowView[] = [];
  for (const { row, kernel } of live.values()) {
    rows.push(liveView(row, kernel, state.saved[row.id]));
  }
  for (const row of Object.values(state.orphans)) {
    if (!live.has(row.id)) {
      const saved = state.saved[row.id];
      rows.push(liveView(row, null, saved));
    }
  }
  for (const s of Object.values(state.saved)) {
    if (!live.has(s.id) && !(s.id in state.orphans)) {
      rows.push(savedView(s));
    }
  }
  return rows;
}

export function groupLabel(notebook: string): string {
  return notebook === '' ? 'Other sessions' : notebook;
}

function newestFirst(a: RowView, b: RowView): number {
  return b.lastActivity - a.lastActivity || a.id.localeCompare(b.id);
}

/** Rows grouped by notebook; groups and rows newest activity first. */
export function selectGroups(state: State): Group[] {
  const byNotebook = new Map<string, RowView[]>();
  for (const row of selectRows(state)) {
    const list = byNotebook.get(row.notebook);
    if (list) {
      list.push(row);
    } else {
      byNotebook.set(row.notebook, [row]);
    }
  }
  const groups: Group[] = [];
  for (const [notebook, rows] of byNotebook) {
    rows.sort(newestFirst);
    groups.push({
      notebook,
      label: groupLabel(notebook),
      lastActivity: rows[0].lastActivity,
      rows
    });
  }
  groups.sort(
    (a, b) => b.lastActivity - a.lastActivity || a.notebook.localeCompare(b.notebook)
  );
  return groups;
}

/** Rows are rebuilt from the state on every change; re-render only those
 * whose content changed (a streaming session updates ~10 times a second). */
export function sameRow(a: RowView, b: RowView): boolean {
  for (const key of Object.keys(a) as (keyof RowView)[]) {
    if (key === 'pending') {
      if (a.pending !== b.pending && (a.pending.length > 0 || b.pending.length > 0)) {
        return false;
      }
    } else if (a[key] !== b[key]) {
      return false;
    }
  }
  return true;
}

export function findRow(state: State, id: string): RowView | undefined {
  return selectRows(state).find(r => r.id === id);
}

export interface Summary {
  working: number;
  waiting: number;
  /** Cost of the sessions active since local midnight. */
  costToday: number;
}

export function summarise(state: State, now: Date = new Date()): Summary {
  const midnight =
    new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime() / 1000;
  let working = 0;
  let waiting = 0;
  let costToday = 0;
  for (const row of selectRows(state)) {
    if (row.kind === 'streaming' || row.kind === 'running' || row.kind === 'queued') {
      working += 1;
    } else if (row.kind === 'waiting') {
      waiting += 1;
    }
    if (row.lastActivity >= midnight) {
      costToday += row.cost;
    }
  }
  return { working, waiting, costToday };
}

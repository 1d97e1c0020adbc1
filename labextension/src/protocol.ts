/**
 * The sidebar ⇄ kernel protocol (v1) over the `ml_intern_sidebar` comm, and
 * the shapes of the server's session API (`/ml-intern/api/...`).
 */

export const COMM_TARGET = 'ml_intern_sidebar';
export const PROTOCOL_VERSION = 1;

export type LiveStatus =
  | 'idle'
  | 'streaming'
  | 'running'
  | 'waiting'
  | 'error'
  | 'queued';

export interface PendingCall {
  call_id: string;
  tool: string;
  /** JSON text, scrubbed, at most 4000 characters. */
  arguments: string;
  truncated: boolean;
  reason: string;
  estimated_cost: number | null;
}

/** A session as a kernel reports it. */
export interface LiveRow {
  id: string;
  title: string;
  notebook: string;
  model: string;
  status: LiveStatus;
  tool: string | null;
  pending: PendingCall[];
  turns: number;
  tokens: number;
  cost: number;
  /** epoch seconds */
  last_activity: number;
  cell_id: string | null;
  error: string | null;
}

export type NoticeKind = 'approval' | 'error' | 'turn_done';

export interface SnapshotMessage {
  v: number;
  type: 'snapshot';
  seq: number;
  pid: number;
  sessions: LiveRow[];
}

export interface SessionMessage {
  v: number;
  type: 'session';
  seq: number;
  session: LiveRow;
}

export interface RemovedMessage {
  v: number;
  type: 'removed';
  seq: number;
  id: string;
}

export interface NoticeMessage {
  v: number;
  type: 'notice';
  seq: number;
  kind: NoticeKind;
  session_id: string;
  notice_id: string;
  message: string;
  duration_s: number | null;
}

export interface ReplyMessage {
  v: number;
  type: 'reply';
  seq: number;
  request_id: string;
  ok: boolean;
  message: string;
}

export type KernelMessage =
  | SnapshotMessage
  | SessionMessage
  | RemovedMessage
  | NoticeMessage
  | ReplyMessage;

/** What the sidebar sends (a `request_id` is added when sent). */
export type SidebarRequest =
  | { method: 'snapshot' }
  | {
      method: 'decide';
      session_id: string;
      call_id: string;
      approved: boolean;
      feedback: string | null;
    }
  | { method: 'stop'; session_id: string };

/** A saved session, as `GET /ml-intern/api/sessions` lists it. */
export interface SavedSession {
  id: string;
  notebook: string;
  title: string;
  model: string;
  /** active, idle, waiting_approval, ended, archived, error */
  status: string;
  created: number;
  updated: number;
  parent_id?: string | null;
  turns: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  metadata?: Record<string, unknown>;
}

/** A message of the feed websocket (`/ml-intern/api/feed`). */
export interface FeedMessage {
  type: 'session';
  event: 'created' | 'updated' | 'archived' | 'deleted';
  session: Partial<SavedSession> & { id: string };
}

const STATUSES = new Set([
  'idle',
  'streaming',
  'running',
  'waiting',
  'error',
  'queued'
]);

function str(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

function num(value: unknown, fallback = 0): number {
  return typeof value === 'number' && isFinite(value) ? value : fallback;
}

function strOrNull(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/** A row from the wire, with every field of the right type (or null when
 * it has no id), so a malformed message cannot break the panel. */
export function parseRow(raw: unknown): LiveRow | null {
  if (!raw || typeof raw !== 'object') {
    return null;
  }
  const r = raw as Record<string, unknown>;
  const id = str(r.id);
  if (!id) {
    return null;
  }
  const status = STATUSES.has(str(r.status)) ? (r.status as LiveStatus) : 'idle';
  const pending = Array.isArray(r.pending)
    ? r.pending
        .filter(p => p && typeof p === 'object')
        .map(p => {
          const c = p as Record<string, unknown>;
          return {
            call_id: str(c.call_id),
            tool: str(c.tool),
            arguments: str(c.arguments),
            truncated: c.truncated === true,
            reason: str(c.reason),
            estimated_cost:
              typeof c.estimated_cost === 'number' ? c.estimated_cost : null
          };
        })
        .filter(p => p.call_id !== '')
    : [];
  return {
    id,
    title: str(r.title),
    notebook: str(r.notebook),
    model: str(r.model),
    status,
    tool: strOrNull(r.tool),
    pending,
    turns: num(r.turns),
    tokens: num(r.tokens),
    cost: num(r.cost),
    last_activity: num(r.last_activity),
    cell_id: strOrNull(r.cell_id),
    error: strOrNull(r.error)
  };
}

/** A kernel message checked for the fields its type needs, else null. */
export function parseKernelMessage(raw: unknown): KernelMessage | null {
  if (!raw || typeof raw !== 'object') {
    return null;
  }
  const m = raw as Record<string, unknown>;
  if (typeof m.seq !== 'number' || typeof m.type !== 'string') {
    return null;
  }
  const base = { v: num(m.v, 1), seq: m.seq };
  switch (m.type) {
    case 'snapshot': {
      const sessions = Array.isArray(m.sessions)
        ? (m.sessions.map(parseRow).filter(r => r !== null) as LiveRow[])
        : [];
      return { ...base, type: 'snapshot', pid: num(m.pid), sessions };
    }
    case 'session': {
      const session = parseRow(m.session);
      return session ? { ...base, type: 'session', session } : null;
    }
    case 'removed':
      return typeof m.id === 'string'
        ? { ...base, type: 'removed', id: m.id }
        : null;
    case 'notice': {
      const kind = str(m.kind);
      if (
        (kind !== 'approval' && kind !== 'error' && kind !== 'turn_done') ||
        typeof m.notice_id !== 'string'
      ) {
        return null;
      }
      return {
        ...base,
        type: 'notice',
        kind,
        session_id: str(m.session_id),
        notice_id: m.notice_id,
        message: str(m.message),
        duration_s: typeof m.duration_s === 'number' ? m.duration_s : null
      };
    }
    case 'reply':
      return {
        ...base,
        type: 'reply',
        request_id: str(m.request_id),
        ok: m.ok === true,
        message: str(m.message)
      };
    default:
      return null;
  }
}

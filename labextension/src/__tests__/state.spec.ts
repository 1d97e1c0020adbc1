import {
  Action,
  EXPIRED_TEXT,
  State,
  findRow,
  initialState,
  reduce,
  sameRow,
  selectGroups,
  selectRows,
  statusText,
  summarise
} from '../state';
import { LiveRow, SavedSession } from '../protocol';

function row(id: string, fields: Partial<LiveRow> = {}): LiveRow {
  return {
    id,
    title: `title ${id}`,
    notebook: '/root/a.ipynb',
    model: 'vllm/test-model',
    status: 'idle',
    tool: null,
    pending: [],
    turns: 1,
    tokens: 100,
    cost: 0.01,
    last_activity: 1000,
    cell_id: 'cell-0',
    error: null,
    ...fields
  };
}

function saved(id: string, fields: Partial<SavedSession> = {}): SavedSession {
  return {
    id,
    notebook: '/root/a.ipynb',
    title: `saved ${id}`,
    model: 'vllm/test-model',
    status: 'idle',
    created: 10,
    updated: 500,
    turns: 2,
    prompt_tokens: 40,
    completion_tokens: 2,
    cost_usd: 0.5,
    ...fields
  };
}

function run(actions: Action[], state: State = initialState()): State {
  return actions.reduce(reduce, state);
}

const open = (kernel = 'k1', comm = 'c1'): Action => ({ type: 'comm-open', kernel, comm });
const msg = (data: object, kernel = 'k1', comm = 'c1'): Action => ({
  type: 'comm-message',
  kernel,
  comm,
  data: { v: 1, ...data }
});
const snapshot = (seq: number, sessions: LiveRow[], pid = 42, kernel = 'k1', comm = 'c1') =>
  msg({ type: 'snapshot', seq, pid, sessions }, kernel, comm);
const update = (seq: number, session: LiveRow, kernel = 'k1', comm = 'c1') =>
  msg({ type: 'session', seq, session }, kernel, comm);

describe('snapshot and updates', () => {
  it('shows the sessions of a snapshot with their live status', () => {
    const state = run([
      open(),
      snapshot(1, [row('a', { status: 'streaming' }), row('b', { status: 'idle' })])
    ]);
    const rows = selectRows(state);
    expect(rows.map(r => [r.id, r.statusText, r.kernel])).toEqual([
      ['a', 'streaming', 'k1'],
      ['b', 'idle', 'k1']
    ]);
    expect(state.kernels.k1.synced).toBe(true);
  });

  it('applies session updates and removals', () => {
    const state = run([
      open(),
      snapshot(1, [row('a'), row('b')]),
      update(2, row('a', { status: 'running', tool: 'bash', turns: 3 })),
      msg({ type: 'removed', seq: 3, id: 'b' })
    ]);
    const rows = selectRows(state);
    expect(rows).toHaveLength(1);
    expect(rows[0].statusText).toBe('running bash');
    expect(rows[0].turns).toBe(3);
  });

  it('adds a session first seen in an update', () => {
    const state = run([open(), snapshot(1, []), update(2, row('new'))]);
    expect(selectRows(state).map(r => r.id)).toEqual(['new']);
  });

  it('ignores duplicate and out-of-order messages', () => {
    const state = run([
      open(),
      snapshot(1, [row('a')]),
      update(3, row('a', { status: 'waiting', pending: [call('x')] })),
      update(2, row('a', { status: 'streaming' })), // late
      update(3, row('a', { status: 'idle' })), // duplicate seq
      msg({ type: 'removed', seq: 3, id: 'a' }) // duplicate seq
    ]);
    const rows = selectRows(state);
    expect(rows).toHaveLength(1);
    expect(rows[0].statusText).toBe('waiting for approval (1)');
    expect(state.kernels.k1.seq).toBe(3);
  });

  it('ignores an older snapshot arriving after newer updates', () => {
    const state = run([
      open(),
      snapshot(5, [row('a', { status: 'streaming' })]),
      snapshot(4, [])
    ]);
    expect(selectRows(state).map(r => r.id)).toEqual(['a']);
  });

  it('ignores messages of a comm no longer current, and restarts seq on a re-open', () => {
    const state = run([
      open('k1', 'c1'),
      snapshot(10, [row('a')]),
      open('k1', 'c2'),
      update(11, row('a', { status: 'error' }), 'k1', 'c1'), // old comm
      snapshot(1, [row('a', { status: 'streaming' })], 42, 'k1', 'c2') // seq reset
    ]);
    expect(selectRows(state)[0].statusText).toBe('streaming');
  });

  it('drops malformed messages and rows without an id', () => {
    const state = run([
      open(),
      snapshot(1, [row('a')]),
      msg({ type: 'session', seq: 2, session: { title: 'no id' } }),
      msg({ type: 'what', seq: 3 }),
      msg({ type: 'session', session: row('b') }), // no seq
      { type: 'comm-message', kernel: 'k1', comm: 'c1', data: 'not an object' }
    ]);
    expect(selectRows(state).map(r => r.id)).toEqual(['a']);
  });

  it('reads unknown statuses as idle and keeps the pending calls typed', () => {
    const state = run([
      open(),
      snapshot(1, [
        {
          ...row('a'),
          status: 'pondering' as LiveRow['status'],
          pending: [{ call_id: 'c', tool: 'python', arguments: '{}' }, { nope: 1 }]
        } as unknown as LiveRow
      ])
    ]);
    const [r] = selectRows(state);
    expect(r.kind).toBe('idle');
    expect(r.pending).toEqual([
      {
        call_id: 'c',
        tool: 'python',
        arguments: '{}',
        truncated: false,
        reason: '',
        estimated_cost: null
      }
    ]);
  });
});

function call(id: string) {
  return {
    call_id: id,
    tool: 'python',
    arguments: '{"code": "1+1"}',
    truncated: false,
    reason: 'runs code',
    estimated_cost: null
  };
}

describe('kernel death', () => {
  it('turns the sessions of a dead kernel into expired rows without approvals', () => {
    const state = run([
      open(),
      snapshot(1, [row('a', { status: 'waiting', pending: [call('x')] })]),
      { type: 'kernel-dead', kernel: 'k1' }
    ]);
    const [r] = selectRows(state);
    expect(r.statusText).toBe(EXPIRED_TEXT);
    expect(r.kind).toBe('expired');
    expect(r.kernel).toBeNull();
    expect(r.pending).toEqual([]);
    expect(summarise(state).waiting).toBe(0);
  });

  it('expires on comm close and on a kernel shut down', () => {
    const closed = run([
      open(),
      snapshot(1, [row('a')]),
      { type: 'comm-closed', kernel: 'k1', comm: 'c1' }
    ]);
    expect(selectRows(closed)[0].kind).toBe('expired');
    const gone = run([open(), snapshot(1, [row('a')]), { type: 'kernel-gone', kernel: 'k1' }]);
    expect(selectRows(gone)[0].kind).toBe('expired');
    expect(gone.kernels.k1).toBeUndefined();
  });

  it('ignores a close of an old comm', () => {
    const state = run([
      open('k1', 'c1'),
      open('k1', 'c2'),
      snapshot(1, [row('a')], 42, 'k1', 'c2'),
      { type: 'comm-closed', kernel: 'k1', comm: 'c1' }
    ]);
    expect(selectRows(state)[0].kind).toBe('idle');
  });

  it('expires the sessions of the old process when a snapshot has another pid', () => {
    const state = run([
      open('k1', 'c1'),
      snapshot(1, [row('a')], 1),
      open('k1', 'c2'),
      snapshot(1, [row('b')], 2, 'k1', 'c2')
    ]);
    const rows = Object.fromEntries(selectRows(state).map(r => [r.id, r.kind]));
    expect(rows).toEqual({ a: 'expired', b: 'idle' });
  });

  it('makes an expired session live again when a kernel reports it (resume)', () => {
    const state = run([
      open('k1', 'c1'),
      snapshot(1, [row('a')]),
      { type: 'kernel-dead', kernel: 'k1' },
      open('k2', 'd1'),
      snapshot(1, [], 7, 'k2', 'd1'),
      update(2, row('a', { status: 'streaming' }), 'k2', 'd1')
    ]);
    const rows = selectRows(state);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'streaming', kernel: 'k2' });
    expect(state.orphans).toEqual({});
  });
});

describe('saved sessions', () => {
  it('merges REST rows with live rows: live wins, saved-only expire or read archived', () => {
    const state = run([
      { type: 'saved', sessions: [saved('a'), saved('b'), saved('c', { status: 'archived' })] },
      open(),
      snapshot(1, [row('a', { status: 'streaming', title: '' })])
    ]);
    const rows = Object.fromEntries(selectRows(state).map(r => [r.id, r]));
    expect(Object.keys(rows).sort()).toEqual(['a', 'b', 'c']);
    expect(rows.a.statusText).toBe('streaming');
    expect(rows.a.title).toBe('saved a'); // the live row had none
    expect(rows.a.saved).toBe(true);
    expect(rows.b.statusText).toBe(EXPIRED_TEXT);
    expect(rows.b.tokens).toBe(42);
    expect(rows.b.cost).toBe(0.5);
    expect(rows.c.statusText).toBe('archived');
  });

  it('follows the feed: created, updated, archived, deleted', () => {
    const feed = (event: string, session: object): Action => ({
      type: 'feed',
      message: { type: 'session', event, session } as never
    });
    let state = run([
      feed('created', saved('a')),
      feed('created', saved('b')),
      feed('updated', { id: 'a', title: 'renamed', updated: 900 })
    ]);
    expect(findRow(state, 'a')).toMatchObject({ title: 'renamed', lastActivity: 900, turns: 2 });
    state = run([feed('archived', { id: 'b', updated: 950 })], state);
    expect(findRow(state, 'b')?.kind).toBe('archived');
    state = run([feed('deleted', { id: 'a' })], state);
    expect(findRow(state, 'a')).toBeUndefined();
  });

  it('shows an expired live row as archived once the store archives it', () => {
    const state = run([
      open(),
      snapshot(1, [row('a')]),
      { type: 'kernel-dead', kernel: 'k1' },
      { type: 'saved', sessions: [saved('a', { status: 'archived' })] }
    ]);
    expect(selectRows(state)[0].statusText).toBe('archived');
  });

  it('shows a live idle session archived once archived, a working one by its status', () => {
    const state = run([
      { type: 'saved', sessions: [saved('a', { status: 'archived' }), saved('b', { status: 'archived' })] },
      open(),
      snapshot(1, [row('a', { status: 'idle' }), row('b', { status: 'streaming' })])
    ]);
    expect(findRow(state, 'a')?.statusText).toBe('archived');
    expect(findRow(state, 'a')?.kernel).toBe('k1');
    expect(findRow(state, 'b')?.statusText).toBe('streaming');
  });

  it('forgets a deleted session and a deleted orphan', () => {
    const state = run([
      open(),
      snapshot(1, [row('x')]),
      { type: 'kernel-dead', kernel: 'k1' },
      { type: 'saved', sessions: [saved('a')] },
      { type: 'forget', id: 'a' },
      { type: 'forget', id: 'x' }
    ]);
    expect(selectRows(state)).toEqual([]);
  });

  it('keeps the same state object for a feed message without an id', () => {
    const before = initialState();
    const after = reduce(before, {
      type: 'feed',
      message: { type: 'session', event: 'updated', session: {} } as never
    });
    expect(after).toBe(before);
  });
});

describe('grouping and ordering', () => {
  it('groups by notebook, groups and rows newest activity first', () => {
    const state = run([
      {
        type: 'saved',
        sessions: [
          saved('old-a', { notebook: '/root/a.ipynb', updated: 100 }),
          saved('dir', { notebook: 'dir:/root/project', updated: 300 }),
          saved('none', { notebook: '', updated: 50 })
        ]
      },
      open(),
      snapshot(1, [
        row('new-a', { notebook: '/root/a.ipynb', last_activity: 200 }),
        row('b', { notebook: '/root/b.ipynb', last_activity: 150 })
      ])
    ]);
    const groups = selectGroups(state);
    expect(groups.map(g => [g.label, g.rows.map(r => r.id)])).toEqual([
      ['dir:/root/project', ['dir']],
      ['/root/a.ipynb', ['new-a', 'old-a']],
      ['/root/b.ipynb', ['b']],
      ['Other sessions', ['none']]
    ]);
  });

  it('takes the most recently active kernel when two claim a session', () => {
    const state = run([
      open('k1', 'c1'),
      snapshot(1, [row('a', { last_activity: 100, status: 'idle' })]),
      open('k2', 'd1'),
      snapshot(1, [row('a', { last_activity: 200, status: 'streaming' })], 9, 'k2', 'd1')
    ]);
    expect(selectRows(state)).toHaveLength(1);
    expect(selectRows(state)[0]).toMatchObject({ kernel: 'k2', kind: 'streaming' });
  });
});

describe('status text and summary', () => {
  it('says what the protocol says', () => {
    expect(statusText('idle', null, 0)).toBe('idle');
    expect(statusText('streaming', null, 0)).toBe('streaming');
    expect(statusText('running', 'hf_jobs', 0)).toBe('running hf_jobs');
    expect(statusText('waiting', null, 2)).toBe('waiting for approval (2)');
    expect(statusText('error', null, 0)).toBe('error');
    expect(statusText('expired', null, 0)).toBe('expired — needs a catch-up');
    expect(statusText('archived', null, 0)).toBe('archived');
  });

  it('counts working and waiting sessions and today’s cost', () => {
    const now = new Date(2026, 11, 3, 15, 0, 0);
    const today = now.getTime() / 1000 - 3600;
    const yesterday = now.getTime() / 1000 - 86400;
    const state = run([
      { type: 'saved', sessions: [saved('old', { updated: yesterday, cost_usd: 5 })] },
      open(),
      snapshot(1, [
        row('s', { status: 'streaming', last_activity: today, cost: 0.25 }),
        row('r', { status: 'running', tool: 'bash', last_activity: today, cost: 0.5 }),
        row('w', { status: 'waiting', pending: [call('1')], last_activity: today, cost: 1 }),
        row('i', { status: 'idle', last_activity: today, cost: 0 })
      ])
    ]);
    const s = summarise(state, now);
    expect(s.working).toBe(2);
    expect(s.waiting).toBe(1);
    expect(s.costToday).toBeCloseTo(1.75);
  });
});

describe('notices and replies', () => {
  const notice = (seq: number, id: string, kind = 'approval') =>
    msg({
      type: 'notice',
      seq,
      kind,
      session_id: 'a',
      notice_id: id,
      message: 'm',
      duration_s: null
    });

  it('takes each notice_id once', () => {
    let state = run([open(), snapshot(1, [row('a')]), notice(2, 'n1')]);
    const first = state.notice;
    expect(first?.notice_id).toBe('n1');
    expect(first?.kernel).toBe('k1');
    state = run([notice(3, 'n1')], state); // same event again, new seq
    expect(state.notice).toBe(first);
    state = run([notice(4, 'n2', 'error')], state);
    expect(state.notice?.notice_id).toBe('n2');
    expect(state.notice?.kind).toBe('error');
  });

  it('drops a notice of an unknown kind', () => {
    const state = run([open(), notice(1, 'n1', 'shout')]);
    expect(state.notice).toBeNull();
  });

  it('records replies', () => {
    const state = run([
      open(),
      msg({ type: 'reply', seq: 1, request_id: 'r1', ok: false, message: 'already decided' })
    ]);
    expect(state.reply).toMatchObject({ request_id: 'r1', ok: false, message: 'already decided' });
  });
});

describe('row identity for re-rendering', () => {
  it('calls rows the same when nothing shown changed, different otherwise', () => {
    const base = run([{ type: 'saved', sessions: [saved('a'), saved('b')] }, open(), snapshot(1, [row('l')])]);
    const again = run([{ type: 'saved', sessions: [saved('a'), saved('b', { turns: 9 })] }], base);
    const before = Object.fromEntries(selectRows(base).map(r => [r.id, r]));
    const after = Object.fromEntries(selectRows(again).map(r => [r.id, r]));
    expect(after.a).not.toBe(before.a); // rebuilt...
    expect(sameRow(after.a, before.a)).toBe(true); // ...but the same to show
    expect(sameRow(after.b, before.b)).toBe(false);
    expect(sameRow(after.l, before.l)).toBe(true);
    const waiting = run([update(2, row('l', { status: 'waiting', pending: [call('x')] }))], again);
    const next = run([update(3, row('l', { status: 'waiting', pending: [call('x')] }))], waiting);
    const w1 = findRow(waiting, 'l')!;
    const w2 = findRow(next, 'l')!;
    expect(sameRow(w1, w2)).toBe(false); // a new pending list: its calls may differ
    expect(sameRow(w1, findRow(waiting, 'l')!)).toBe(true);
  });
});

import { Signal } from '@lumino/signaling';

import { KernelChannels } from '../channel';
import { SidebarModel } from '../model';
import { selectRows } from '../state';

class FakeKernel {
  constructor(readonly id: string) {}
  username = 'user';
  clientId = 'client';
  isDisposed = false;
  iopubMessage = new Signal<this, any>(this);
  statusChanged = new Signal<this, string>(this);
  connectionStatusChanged = new Signal<this, string>(this);
  disposed = new Signal<this, void>(this);
  sent: any[] = [];
  sendShellMessage(msg: any): void {
    this.sent.push(msg);
  }
  dispose(): void {
    this.isDisposed = true;
    this.disposed.emit();
  }
  /** The comm ids of the comm_opens sent so far. */
  opened(): string[] {
    return this.sent
      .filter(m => m.header.msg_type === 'comm_open')
      .map(m => m.content.comm_id);
  }
  lastComm(): string {
    const ids = this.opened();
    return ids[ids.length - 1];
  }
  iopub(msgType: string, content: object, parent = ''): void {
    this.iopubMessage.emit({
      header: { msg_type: msgType, msg_id: `m-${Math.random()}` },
      parent_header: parent ? { msg_id: parent } : {},
      content
    });
  }
  commSend(data: object, comm = this.lastComm()): void {
    this.iopub('comm_msg', { comm_id: comm, data: { v: 1, ...data } });
  }
}

class FakeManager {
  models: { id: string; name: string }[] = [];
  kernels = new Map<string, FakeKernel>();
  handleComms: boolean[] = [];
  runningChanged = new Signal<this, any>(this);
  ready = Promise.resolve();
  running() {
    return this.models[Symbol.iterator]();
  }
  connectTo(options: { model: { id: string }; handleComms?: boolean }) {
    this.handleComms.push(options.handleComms === true);
    const kernel = new FakeKernel(options.model.id);
    this.kernels.set(options.model.id, kernel);
    return kernel;
  }
  start(id: string): FakeKernel {
    this.models.push({ id, name: 'python3' });
    this.runningChanged.emit(this.models);
    return this.kernels.get(id)!;
  }
  stop(id: string): void {
    this.models = this.models.filter(m => m.id !== id);
    this.runningChanged.emit(this.models);
  }
}

function row(id: string, status = 'idle', pending: object[] = []) {
  return {
    id,
    title: id,
    notebook: '/r/a.ipynb',
    model: 'm',
    status,
    tool: null,
    pending,
    turns: 0,
    tokens: 0,
    cost: 0,
    last_activity: 1,
    cell_id: null,
    error: null
  };
}

function setup() {
  const model = new SidebarModel();
  const manager = new FakeManager();
  const channels = new KernelChannels(manager as any, model.dispatch, () => model.state);
  model.changed.connect((_, before) => {
    const reply = model.state.reply;
    if (reply && reply !== before.reply) {
      channels.settle(reply.request_id, reply);
    }
  });
  channels.start();
  return { model, manager, channels };
}

const statuses = (model: SidebarModel) =>
  Object.fromEntries(selectRows(model.state).map(r => [r.id, r.statusText]));

describe('kernel channels', () => {
  it('opens the comm by hand on a connection that leaves comms alone', () => {
    const { manager } = setup();
    const kernel = manager.start('k1');
    expect(manager.handleComms).toEqual([false]);
    const open = kernel.sent[0];
    expect(open.header.msg_type).toBe('comm_open');
    expect(open.channel).toBe('shell');
    expect(open.content.target_name).toBe('ml_intern_sidebar');
  });

  it('shows what the kernel sends on its comm and nothing sent on others', () => {
    const { manager, model } = setup();
    const kernel = manager.start('k1');
    kernel.commSend({ type: 'snapshot', seq: 1, pid: 5, sessions: [row('a', 'streaming')] });
    kernel.commSend({ type: 'session', seq: 2, session: row('b') }, 'another-comm');
    expect(statuses(model)).toEqual({ a: 'streaming' });
  });

  it('opens again only after a cell that mentions the extension finished', () => {
    const { manager } = setup();
    const kernel = manager.start('k1');
    // no target registered yet: the kernel closes the comm at once
    kernel.iopub('comm_close', { comm_id: kernel.lastComm(), data: {} });
    kernel.iopub('execute_input', { code: 'x = 1', execution_count: 1 }, 'run-1');
    kernel.iopub('status', { execution_state: 'idle' }, 'run-1');
    expect(kernel.opened()).toHaveLength(1);
    kernel.iopub('execute_input', { code: '%load_ext ml_intern_jupyter', execution_count: 2 }, 'run-2');
    kernel.iopub('status', { execution_state: 'busy' }, 'run-2');
    expect(kernel.opened()).toHaveLength(1);
    kernel.iopub('status', { execution_state: 'idle' }, 'run-2');
    expect(kernel.opened()).toHaveLength(2);
  });

  it('expires the sessions of a kernel that restarts, dies or drops its connection', () => {
    for (const how of ['iopub-restarting', 'iopub-starting', 'status-dead', 'disconnected']) {
      const { manager, model } = setup();
      const kernel = manager.start('k1');
      kernel.commSend({ type: 'snapshot', seq: 1, pid: 5, sessions: [row('a', 'waiting')] });
      if (how.startsWith('iopub-')) {
        kernel.iopub('status', { execution_state: how.slice(6) });
      } else if (how === 'status-dead') {
        kernel.statusChanged.emit('dead');
      } else {
        kernel.connectionStatusChanged.emit('disconnected');
      }
      expect([how, statuses(model).a]).toEqual([how, 'expired — needs a catch-up']);
      // what the old comm still delivers no longer counts
      kernel.commSend({ type: 'session', seq: 2, session: row('a', 'idle') }, kernel.opened()[0]);
      expect(statuses(model).a).toBe('expired — needs a catch-up');
    }
  });

  it('asks again when the connection comes back', () => {
    const { manager } = setup();
    const kernel = manager.start('k1');
    kernel.connectionStatusChanged.emit('disconnected');
    kernel.connectionStatusChanged.emit('connected');
    expect(kernel.opened()).toHaveLength(2);
  });

  it('sends requests on the comm and resolves them with the reply', async () => {
    const { manager, channels } = setup();
    const kernel = manager.start('k1');
    const comm = kernel.lastComm();
    kernel.commSend({ type: 'snapshot', seq: 1, pid: 5, sessions: [] });
    const answer = channels.request('k1', {
      method: 'decide',
      session_id: 'a',
      call_id: 'c1',
      approved: true,
      feedback: null
    });
    const sent = kernel.sent[kernel.sent.length - 1];
    expect(sent.header.msg_type).toBe('comm_msg');
    expect(sent.content.comm_id).toBe(comm);
    expect(sent.content.data).toMatchObject({ method: 'decide', call_id: 'c1', approved: true });
    kernel.commSend({
      type: 'reply',
      seq: 2,
      request_id: sent.content.data.request_id,
      ok: false,
      message: 'already decided'
    });
    await expect(answer).resolves.toEqual(
      expect.objectContaining({ ok: false, message: 'already decided' })
    );
  });

  it('answers a request at once when the kernel has no channel', async () => {
    const { channels } = setup();
    const reply = await channels.request('nope', { method: 'stop', session_id: 'a' });
    expect(reply.ok).toBe(false);
    expect(reply.message).toMatch(/not connected/);
  });

  it('gives up on a request the kernel does not answer', async () => {
    jest.useFakeTimers();
    try {
      const { manager, channels } = setup();
      manager.start('k1');
      const answer = channels.request('k1', { method: 'stop', session_id: 'a' });
      jest.advanceTimersByTime(16000);
      const reply = await answer;
      expect(reply.ok).toBe(false);
      expect(reply.message).toMatch(/did not answer/);
    } finally {
      jest.useRealTimers();
    }
  });

  it('closes the comm and expires the rows of a kernel shut down', () => {
    const { manager, model } = setup();
    const kernel = manager.start('k1');
    const comm = kernel.lastComm();
    kernel.commSend({ type: 'snapshot', seq: 1, pid: 5, sessions: [row('a')] });
    manager.stop('k1');
    const close = kernel.sent[kernel.sent.length - 1];
    expect(close.header.msg_type).toBe('comm_close');
    expect(close.content.comm_id).toBe(comm);
    expect(kernel.isDisposed).toBe(true);
    expect(statuses(model).a).toBe('expired — needs a catch-up');
    expect(model.state.kernels.k1).toBeUndefined();
  });
});

/**
 * One `ml_intern_sidebar` comm per running kernel.
 *
 * Each kernel gets its own connection with `handleComms: false`: a second
 * connection that handled comms would answer the kernel's widget comm_opens
 * (it has no `jupyter.widget` target) by closing them, breaking the cell's
 * live view. So the comm is spoken by hand: `comm_open` / `comm_msg` on the
 * shell channel, and the kernel's `comm_msg` / `comm_close` read off IOPub.
 *
 * When the comm is opened: on connecting (the kernel may have loaded the
 * extension before the page loaded), and after a cell that mentions the
 * extension finishes (`%load_ext ml_intern_jupyter`, `%%intern`), so kernels
 * without the extension are not asked after every cell. A kernel that
 * restarts, dies or drops its connection has its sessions expire at once.
 */

import { Kernel, KernelMessage } from '@jupyterlab/services';
import { UUID } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';

import { COMM_TARGET, PROTOCOL_VERSION, SidebarRequest } from './protocol';
import { Action, State } from './state';

const REQUEST_TIMEOUT_MS = 15000;
const SNAPSHOT_GRACE_MS = 3000;
/** Code whose run may have registered the comm target. */
const MENTIONS_EXTENSION = /ml_intern_jupyter|%%?intern\b/;
/** Connection states after which the kernel's comm is gone. */
const DEAD_STATES = new Set<string>(['restarting', 'autorestarting', 'dead', 'terminating']);
/** IOPub states that say the same; `starting` is only sent by a kernel
 * process that just started, so whatever the old one had is gone. */
const DEAD_IOPUB_STATES = new Set<string>(['restarting', 'autorestarting', 'dead', 'starting']);

export interface Reply {
  ok: boolean;
  message: string;
}

interface Link {
  kernel: Kernel.IKernelConnection;
  commId: string | null;
  /** msg ids of executions that mention the extension, still running */
  watched: Set<string>;
  snapshotTimer: number | null;
}

interface Waiting {
  resolve: (reply: Reply) => void;
  timer: number;
}

export class KernelChannels implements IDisposable {
  constructor(
    private readonly manager: Kernel.IManager,
    private readonly dispatch: (action: Action) => void,
    private readonly getState: () => State
  ) {}

  get isDisposed(): boolean {
    return this._disposed;
  }

  start(): void {
    this.manager.runningChanged.connect(this._sync, this);
    void this.manager.ready.then(() => this._sync());
  }

  /** Re-open the comm of every kernel that has none (the panel's Refresh). */
  refresh(): void {
    this._sync();
    for (const link of this._links.values()) {
      if (link.commId === null) {
        this._open(link);
      } else {
        this._send(link, { method: 'snapshot' });
      }
    }
  }

  /** Kernels with an open comm (the kernel side answers them). */
  hasChannel(kernelId: string): boolean {
    return this._links.get(kernelId)?.commId != null;
  }

  request(kernelId: string, body: SidebarRequest): Promise<Reply> {
    const link = this._links.get(kernelId);
    if (!link || link.commId === null) {
      return Promise.resolve({
        ok: false,
        message: 'That session’s kernel is not connected to the sidebar any more.'
      });
    }
    const requestId = this._send(link, body);
    return new Promise<Reply>(resolve => {
      const timer = window.setTimeout(() => {
        this._waiting.delete(requestId);
        resolve({
          ok: false,
          message: `The kernel did not answer within ${REQUEST_TIMEOUT_MS / 1000} s (is a cell blocking it?).`
        });
      }, REQUEST_TIMEOUT_MS);
      this._waiting.set(requestId, { resolve, timer });
    });
  }

  /** Called with each reply the reducer accepted. */
  settle(requestId: string, reply: Reply): void {
    const waiting = this._waiting.get(requestId);
    if (waiting) {
      this._waiting.delete(requestId);
      window.clearTimeout(waiting.timer);
      waiting.resolve(reply);
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this.manager.runningChanged.disconnect(this._sync, this);
    for (const id of [...this._links.keys()]) {
      this._drop(id);
    }
    for (const waiting of this._waiting.values()) {
      window.clearTimeout(waiting.timer);
    }
    this._waiting.clear();
  }

  private _sync(): void {
    if (this._disposed) {
      return;
    }
    const running = new Map<string, Kernel.IModel>();
    for (const model of this.manager.running()) {
      running.set(model.id, model);
    }
    for (const id of [...this._links.keys()]) {
      if (!running.has(id)) {
        this._drop(id);
        this.dispatch({ type: 'kernel-gone', kernel: id });
      }
    }
    for (const [id, model] of running) {
      if (!this._links.has(id)) {
        this._connect(model);
      }
    }
  }

  private _connect(model: Kernel.IModel): void {
    let kernel: Kernel.IKernelConnection;
    try {
      kernel = this.manager.connectTo({ model, handleComms: false });
    } catch (err) {
      console.warn(`ml-intern: cannot connect to kernel ${model.id}`, err);
      return;
    }
    const link: Link = { kernel, commId: null, watched: new Set(), snapshotTimer: null };
    this._links.set(model.id, link);
    kernel.iopubMessage.connect((_, msg) => this._onIOPub(link, msg));
    kernel.statusChanged.connect((_, status) => this._onStatus(link, status));
    kernel.connectionStatusChanged.connect((_, status) => {
      if (status === 'connected') {
        // Back after a drop: ask again (the kernel may have restarted meanwhile).
        if (link.commId === null) {
          this._open(link);
        }
      } else if (status === 'disconnected') {
        this._expire(link);
      }
    });
    kernel.disposed.connect(() => {
      if (this._links.get(model.id) === link) {
        this._links.delete(model.id);
        this.dispatch({ type: 'kernel-gone', kernel: model.id });
      }
    });
    this._open(link);
  }

  private _drop(id: string): void {
    const link = this._links.get(id);
    if (!link) {
      return;
    }
    this._links.delete(id);
    if (link.snapshotTimer !== null) {
      window.clearTimeout(link.snapshotTimer);
    }
    this._close(link);
    if (!link.kernel.isDisposed) {
      link.kernel.dispose();
    }
  }

  /** Close the comm, so the kernel stops sending to a page that is gone. */
  private _close(link: Link): void {
    if (link.commId === null || link.kernel.isDisposed) {
      return;
    }
    const msg = KernelMessage.createMessage<KernelMessage.ICommCloseMsg<'shell'>>({
      msgType: 'comm_close',
      channel: 'shell',
      username: link.kernel.username,
      session: link.kernel.clientId,
      content: { comm_id: link.commId, data: {} }
    });
    link.commId = null;
    this._sendShell(link, msg);
  }

  private _open(link: Link): void {
    if (link.kernel.isDisposed) {
      return;
    }
    const commId = UUID.uuid4();
    link.commId = commId;
    this.dispatch({ type: 'comm-open', kernel: link.kernel.id, comm: commId });
    const msg = KernelMessage.createMessage<KernelMessage.ICommOpenMsg<'shell'>>({
      msgType: 'comm_open',
      channel: 'shell',
      username: link.kernel.username,
      session: link.kernel.clientId,
      content: {
        comm_id: commId,
        target_name: COMM_TARGET,
        data: { v: PROTOCOL_VERSION }
      }
    });
    this._sendShell(link, msg);
    // The kernel sends a snapshot on open; ask once more if it got lost.
    if (link.snapshotTimer !== null) {
      window.clearTimeout(link.snapshotTimer);
    }
    link.snapshotTimer = window.setTimeout(() => {
      link.snapshotTimer = null;
      const kernel = this.getState().kernels[link.kernel.id];
      if (link.commId === commId && kernel && !kernel.synced) {
        this._send(link, { method: 'snapshot' });
      }
    }, SNAPSHOT_GRACE_MS);
  }

  private _send(link: Link, body: SidebarRequest): string {
    const requestId = UUID.uuid4();
    if (link.commId === null) {
      return requestId;
    }
    const msg = KernelMessage.createMessage<KernelMessage.ICommMsgMsg<'shell'>>({
      msgType: 'comm_msg',
      channel: 'shell',
      username: link.kernel.username,
      session: link.kernel.clientId,
      content: { comm_id: link.commId, data: { ...body, request_id: requestId } }
    });
    this._sendShell(link, msg);
    return requestId;
  }

  private _sendShell(link: Link, msg: KernelMessage.IShellMessage): void {
    try {
      link.kernel.sendShellMessage(msg, false, true);
    } catch (err) {
      console.warn('ml-intern: could not send to the kernel', err);
    }
  }

  private _onIOPub(link: Link, msg: KernelMessage.IIOPubMessage): void {
    const type = msg.header.msg_type;
    if (type === 'comm_msg') {
      const content = msg.content as KernelMessage.ICommMsgMsg['content'];
      if (link.commId !== null && content.comm_id === link.commId) {
        this.dispatch({
          type: 'comm-message',
          kernel: link.kernel.id,
          comm: content.comm_id,
          data: content.data
        });
      }
    } else if (type === 'comm_close') {
      const content = msg.content as KernelMessage.ICommCloseMsg['content'];
      if (link.commId !== null && content.comm_id === link.commId) {
        // Also the kernel's answer when no such target is registered.
        const comm = link.commId;
        link.commId = null;
        this.dispatch({ type: 'comm-closed', kernel: link.kernel.id, comm });
      }
    } else if (type === 'execute_input') {
      const code = (msg.content as KernelMessage.IExecuteInputMsg['content']).code;
      const parent = (msg.parent_header as KernelMessage.IHeader).msg_id;
      if (parent && typeof code === 'string' && MENTIONS_EXTENSION.test(code)) {
        link.watched.add(parent);
      }
    } else if (type === 'status') {
      const state = (msg.content as KernelMessage.IStatusMsg['content']).execution_state;
      const parent = (msg.parent_header as KernelMessage.IHeader).msg_id;
      if (state === 'idle' && parent && link.watched.delete(parent)) {
        if (link.commId === null) {
          this._open(link);
        }
      } else if (DEAD_IOPUB_STATES.has(state)) {
        this._expire(link);
      }
    }
  }

  private _onStatus(link: Link, status: Kernel.Status): void {
    if (DEAD_STATES.has(status)) {
      this._expire(link);
    }
  }

  private _expire(link: Link): void {
    link.watched.clear();
    if (link.commId === null && !this._hasRows(link.kernel.id)) {
      return;
    }
    link.commId = null;
    this.dispatch({ type: 'kernel-dead', kernel: link.kernel.id });
  }

  private _hasRows(kernelId: string): boolean {
    const kernel = this.getState().kernels[kernelId];
    return !!kernel && Object.keys(kernel.sessions).length > 0;
  }

  private _links = new Map<string, Link>();
  private _waiting = new Map<string, Waiting>();
  private _disposed = false;
}

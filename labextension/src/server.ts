/**
 * The server's session API: saved sessions (`GET /ml-intern/api/sessions`),
 * their changes (feed websocket `/ml-intern/api/feed`), archive, delete and
 * the history download. Requests go through `ServerConnection`, so the
 * token and the XSRF cookie are handled as for Jupyter's own API.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';

import { FeedMessage, SavedSession } from './protocol';
import { Action } from './state';

const API = 'ml-intern/api';
const LIST_LIMIT = 500;

export const MISSING_SERVER =
  'The ml-intern server extension is not running on this Jupyter server, so saved ' +
  'sessions, Archive, Delete and Export are not available (live sessions of running ' +
  'kernels still show). Enable it with `jupyter server extension enable ' +
  'ml_intern_jupyter` and restart the server.';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

async function errorMessage(response: Response, what: string): Promise<string> {
  try {
    const body = await response.json();
    if (body && typeof body.message === 'string' && body.message) {
      return body.message;
    }
  } catch {
    // not JSON: a proxy's or tornado's own page
  }
  return `${what} failed: HTTP ${response.status} ${response.statusText}`.trim();
}

export class SessionApi implements IDisposable {
  constructor(
    private readonly settings: ServerConnection.ISettings,
    private readonly dispatch: (action: Action) => void
  ) {}

  get isDisposed(): boolean {
    return this._disposed;
  }

  url(...parts: string[]): string {
    return URLExt.join(this.settings.baseUrl, API, ...parts.map(encodeURIComponent));
  }

  /** Load the saved sessions, then follow the feed (reconnecting). */
  start(): void {
    this._wantFeed = true;
    void this.reload().then(status => {
      if (status === 'error') {
        this._scheduleFeed(); // the feed's failure to connect lists again
      }
    });
  }

  get status(): 'ok' | 'missing' | 'error' | 'unknown' {
    return this._status;
  }

  /** List the saved sessions again; resolves to what the server turned out to be. */
  async reload(): Promise<'ok' | 'missing' | 'error'> {
    const status = await this._reload();
    this._status = status;
    return status;
  }

  private async _reload(): Promise<'ok' | 'missing' | 'error'> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(
        `${this.url('sessions')}?limit=${LIST_LIMIT}`,
        {},
        this.settings
      );
    } catch (err) {
      this.dispatch({
        type: 'server',
        status: 'error',
        message: `Cannot reach the Jupyter server for saved sessions: ${String(err)}`
      });
      return 'error';
    }
    if (response.status === 404) {
      this.dispatch({ type: 'server', status: 'missing', message: MISSING_SERVER });
      return 'missing';
    }
    if (!response.ok) {
      const message = await errorMessage(response, 'Listing saved sessions');
      this.dispatch({ type: 'server', status: 'error', message });
      return 'error';
    }
    let sessions: SavedSession[] = [];
    try {
      const body = await response.json();
      sessions = Array.isArray(body?.sessions) ? body.sessions : [];
    } catch {
      this.dispatch({
        type: 'server',
        status: 'error',
        message:
          'The server answered the session list with something other than JSON (an old or different server extension?).'
      });
      return 'error';
    }
    this.dispatch({ type: 'saved', sessions });
    this.dispatch({ type: 'server', status: 'ok', message: '' });
    if (this._wantFeed && this._socket === null && this._retry === null) {
      this._openFeed(); // the API came back (Refresh after enabling it)
    }
    return 'ok';
  }

  async archive(id: string): Promise<void> {
    await this._call(this.url('sessions', id, 'archive'), { method: 'POST' }, 'Archive');
  }

  async remove(id: string): Promise<void> {
    await this._call(this.url('sessions', id), { method: 'DELETE' }, 'Delete');
  }

  /** The session's record and its whole current history, as one JSON document. */
  /** The session as the server's export route renders it (scrubbed). */
  async exportSession(id: string, format: ExportFormat): Promise<string> {
    const url = `${this.url('sessions', id, 'export')}?format=${format}`;
    return (await this._call(url, {}, 'Export')).text();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    if (this._retry !== null) {
      window.clearTimeout(this._retry);
    }
    this._socket?.close();
    this._socket = null;
  }

  private async _call(url: string, init: RequestInit, what: string): Promise<Response> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (err) {
      throw new ApiError(`${what} failed: cannot reach the Jupyter server (${String(err)}).`, 0);
    }
    if (response.status === 404 && this._missing(response)) {
      throw new ApiError(MISSING_SERVER, 404);
    }
    if (!response.ok) {
      throw new ApiError(await errorMessage(response, what), response.status);
    }
    return response;
  }

  /** A 404 from tornado's router (no JSON `error`) means the routes are absent. */
  private _missing(response: Response): boolean {
    return !(response.headers.get('Content-Type') ?? '').includes('json');
  }

  private _openFeed(): void {
    if (this._disposed) {
      return;
    }
    let url = URLExt.join(this.settings.wsUrl, API, 'feed');
    const token = this.settings.token;
    if (this.settings.appendToken && token) {
      url += `?token=${encodeURIComponent(token)}`;
    }
    let socket: WebSocket;
    try {
      socket = new this.settings.WebSocket(url);
    } catch {
      this._scheduleFeed();
      return;
    }
    this._socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this._backoff = 1000;
      if (this._reconnecting) {
        // Changes made while the feed was down are not replayed: list again.
        void this.reload();
      }
    };
    socket.onmessage = event => {
      try {
        const message = JSON.parse(String(event.data)) as FeedMessage;
        if (message && message.type === 'session' && message.session?.id) {
          this.dispatch({ type: 'feed', message });
        }
      } catch {
        // not ours
      }
    };
    socket.onclose = () => {
      if (this._socket === socket) {
        this._socket = null;
      }
      this._scheduleFeed();
      if (!opened) {
        // Could not connect at all: the list tells whether the API exists.
        void this.reload().then(status => {
          if (status === 'missing' && this._retry !== null) {
            window.clearTimeout(this._retry);
            this._retry = null;
          }
        });
      }
    };
  }

  private _scheduleFeed(): void {
    if (this._disposed || this._retry !== null) {
      return;
    }
    this._reconnecting = true;
    this._retry = window.setTimeout(() => {
      this._retry = null;
      this._openFeed();
    }, this._backoff);
    this._backoff = Math.min(this._backoff * 2, 30000);
  }

  private _socket: WebSocket | null = null;
  private _retry: number | null = null;
  private _backoff = 1000;
  private _reconnecting = false;
  private _status: 'ok' | 'missing' | 'error' | 'unknown' = 'unknown';
  private _wantFeed = false;
  private _disposed = false;
}

export type ExportFormat = 'claude_code' | 'markdown';

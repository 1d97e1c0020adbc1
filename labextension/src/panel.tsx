/** The "ML Intern" panel: sessions grouped by notebook, live. */

import { ReactWidget } from '@jupyterlab/apputils';
import * as React from 'react';

import * as fmt from './format';
import { SidebarModel } from './model';
import { PendingCall } from './protocol';
import { Group, RowView, State, sameRow, selectGroups } from './state';

export interface PanelActions {
  reveal(row: RowView): void;
  decide(
    row: RowView,
    call: PendingCall,
    approved: boolean,
    feedback: string
  ): Promise<string | null>;
  stop(row: RowView): Promise<string | null>;
  archive(row: RowView): Promise<string | null>;
  remove(row: RowView): Promise<string | null>;
  exportHistory(row: RowView, format: 'claude_code' | 'markdown'): Promise<string | null>;
  refresh(): void;
}

const ARGS_PREVIEW = 160;
const TITLE_MAX = 70;

function useModel(model: SidebarModel): State {
  const [state, setState] = React.useState(model.state);
  React.useEffect(() => {
    let frame = 0;
    const onChange = () => {
      if (!frame) {
        frame = requestAnimationFrame(() => {
          frame = 0;
          setState(model.state);
        });
      }
    };
    model.changed.connect(onChange);
    setState(model.state);
    return () => {
      model.changed.disconnect(onChange);
      if (frame) {
        cancelAnimationFrame(frame);
      }
    };
  }, [model]);
  return state;
}

/** Re-render every 30 s so "2 min ago" stays true. */
function useClock(): number {
  const [now, setNow] = React.useState(Date.now());
  React.useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 30000);
    return () => window.clearInterval(timer);
  }, []);
  return now;
}

function Approval(props: {
  row: RowView;
  call: PendingCall;
  actions: PanelActions;
}): JSX.Element {
  const { row, call, actions } = props;
  const [expanded, setExpanded] = React.useState(false);
  const [feedback, setFeedback] = React.useState('');
  const [busy, setBusy] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const pretty = React.useMemo(() => fmt.prettyArguments(call.arguments), [call.arguments]);
  const long = pretty.length > ARGS_PREVIEW;
  const shown = expanded || !long ? pretty : `${pretty.slice(0, ARGS_PREVIEW)}…`;
  const decide = async (approved: boolean) => {
    setBusy(true);
    setError(null);
    const problem = await actions.decide(row, call, approved, feedback);
    setBusy(false);
    setError(problem);
  };
  return (
    <div className="mlij-approval" data-call-id={call.call_id}>
      <div className="mlij-approval-head">
        <span className="mlij-approval-tool">{call.tool}</span>
        {call.estimated_cost !== null && (
          <span className="mlij-approval-cost">
            est. {fmt.cost(call.estimated_cost)}
          </span>
        )}
      </div>
      {call.reason && <div className="mlij-approval-reason">{call.reason}</div>}
      <pre className="mlij-approval-args">{shown}</pre>
      {(long || call.truncated) && (
        <div className="mlij-approval-more">
          {long && (
            <button
              className="mlij-link"
              onClick={() => setExpanded(!expanded)}
            >
              {expanded ? 'Show less' : 'Show all arguments'}
            </button>
          )}
          {call.truncated && (
            <span className="mlij-note"> (shortened by the kernel; the cell shows them all)</span>
          )}
        </div>
      )}
      <input
        className="mlij-feedback jp-mod-styled"
        type="text"
        placeholder="Feedback for the intern (optional)"
        value={feedback}
        disabled={busy}
        onChange={e => setFeedback(e.target.value)}
      />
      <div className="mlij-approval-buttons">
        <button
          className="jp-Button jp-mod-styled jp-mod-accept mlij-approve"
          disabled={busy}
          onClick={() => void decide(true)}
        >
          Approve
        </button>
        <button
          className="jp-Button jp-mod-styled jp-mod-reject mlij-reject"
          disabled={busy}
          onClick={() => void decide(false)}
        >
          Reject
        </button>
      </div>
      {error && <div className="mlij-error">{error}</div>}
    </div>
  );
}

function ActionButton(props: {
  label: string;
  title: string;
  className: string;
  run: () => Promise<string | null>;
  onError: (message: string | null) => void;
}): JSX.Element {
  const [busy, setBusy] = React.useState(false);
  return (
    <button
      className={`mlij-action ${props.className}`}
      title={props.title}
      disabled={busy}
      onClick={async e => {
        e.stopPropagation();
        setBusy(true);
        props.onError(null);
        const problem = await props.run();
        setBusy(false);
        props.onError(problem);
      }}
    >
      {props.label}
    </button>
  );
}

interface RowProps {
  row: RowView;
  actions: PanelActions;
  now: number;
  highlighted: boolean;
}

const Row = React.memo(RowBody, (a: RowProps, b: RowProps) =>
  a.actions === b.actions &&
  a.now === b.now &&
  a.highlighted === b.highlighted &&
  sameRow(a.row, b.row)
);

function RowBody(props: RowProps): JSX.Element {
  const { row, actions, now } = props;
  const [error, setError] = React.useState<string | null>(null);
  const live = row.kernel !== null;
  const working = row.kind === 'streaming' || row.kind === 'running' || row.kind === 'queued';
  const meta = [
    row.model,
    `${row.turns} turn${row.turns === 1 ? '' : 's'}`,
    fmt.tokens(row.tokens),
    fmt.cost(row.cost),
    fmt.ago(row.lastActivity, now)
  ].filter(Boolean);
  return (
    <li
      className={`mlij-row mlij-kind-${row.kind}${props.highlighted ? ' mlij-highlight' : ''}`}
      data-session-id={row.id}
    >
      <div
        className="mlij-row-main"
        role="button"
        tabIndex={0}
        title={`${row.title}\n${row.notebook}\nClick to show its cell`}
        onClick={() => actions.reveal(row)}
        onKeyDown={e => {
          if (e.key === 'Enter') {
            actions.reveal(row);
          }
        }}
      >
        <div className="mlij-row-title">{fmt.shorten(row.title, TITLE_MAX)}</div>
        <div className="mlij-row-status" data-kind={row.kind}>
          {row.statusText}
        </div>
        <div className="mlij-row-meta">{meta.join(' · ')}</div>
        {row.error && <div className="mlij-error">{row.error}</div>}
      </div>
      {row.pending.map(call => (
        <Approval key={call.call_id} row={row} call={call} actions={actions} />
      ))}
      <div className="mlij-row-actions">
        {live && (working || row.kind === 'waiting') && (
          <ActionButton
            label="Stop"
            title="Stop this turn (as the cell’s Stop)"
            className="mlij-stop"
            run={() => actions.stop(row)}
            onError={setError}
          />
        )}
        {row.saved && row.kind !== 'archived' && (
          <ActionButton
            label="Archive"
            title="Archive: kept, but not offered for catch-up"
            className="mlij-archive"
            run={() => actions.archive(row)}
            onError={setError}
          />
        )}
        {row.saved && (
          <ActionButton
            label="Export"
            title="Download the session as a Claude Code trace (JSONL), secrets scrubbed"
            className="mlij-export"
            run={() => actions.exportHistory(row, 'claude_code')}
            onError={setError}
          />
        )}
        {row.saved && (
          <ActionButton
            label="Markdown"
            title="Download the session as a readable transcript (Markdown), secrets scrubbed"
            className="mlij-export-md"
            run={() => actions.exportHistory(row, 'markdown')}
            onError={setError}
          />
        )}
        {!live && (
          <ActionButton
            label={row.saved ? 'Delete' : 'Dismiss'}
            title={
              row.saved
                ? 'Delete the saved session and its history'
                : 'Remove from this list (it was never saved)'
            }
            className="mlij-delete"
            run={() => actions.remove(row)}
            onError={setError}
          />
        )}
      </div>
      {error && <div className="mlij-error">{error}</div>}
    </li>
  );
}

function GroupView(props: {
  group: Group;
  actions: PanelActions;
  now: number;
  highlight: string | null;
}): JSX.Element {
  const { group } = props;
  const name = group.notebook.startsWith('dir:')
    ? group.label
    : group.label.split(/[\\/]/).pop() || group.label;
  return (
    <section className="mlij-group" data-notebook={group.notebook}>
      <h3 className="mlij-group-title" title={group.label}>
        {name}
      </h3>
      <ul className="mlij-rows">
        {group.rows.map(row => (
          <Row
            key={row.id}
            row={row}
            actions={props.actions}
            now={props.now}
            highlighted={row.id === props.highlight}
          />
        ))}
      </ul>
    </section>
  );
}

function Empty(): JSX.Element {
  return (
    <div className="mlij-empty">
      <p>No intern sessions yet.</p>
      <p>To start one, run in a notebook cell:</p>
      <pre>%load_ext ml_intern_jupyter</pre>
      <p>then ask in a cell of its own:</p>
      <pre>{'%%intern\nWhat is in the dataframe df?'}</pre>
      <p>Its sessions show here, live, with their approvals.</p>
    </div>
  );
}

export function SidebarView(props: {
  model: SidebarModel;
  actions: PanelActions;
  highlight: string | null;
}): JSX.Element {
  const state = useModel(props.model);
  const now = useClock();
  const groups = React.useMemo(() => selectGroups(state), [state]);
  const server = state.server;
  return (
    <div className="mlij-sidebar">
      <header className="mlij-header">
        <h2>ML Intern</h2>
        <button
          className="mlij-link mlij-refresh"
          title="Ask every running kernel and the server again"
          onClick={() => props.actions.refresh()}
        >
          Refresh
        </button>
      </header>
      {(server.status === 'missing' || server.status === 'error') && (
        <div className={`mlij-banner mlij-server-${server.status}`}>{server.message}</div>
      )}
      {groups.length === 0 ? (
        <Empty />
      ) : (
        groups.map(group => (
          <GroupView
            key={group.notebook}
            group={group}
            actions={props.actions}
            now={now}
            highlight={props.highlight}
          />
        ))
      )}
    </div>
  );
}

export class SidebarPanel extends ReactWidget {
  constructor(
    private readonly model: SidebarModel,
    private readonly actions: PanelActions
  ) {
    super();
    this.addClass('mlij-panel');
  }

  /** Mark a session's row and scroll it into view. */
  highlight(id: string): void {
    this._highlight = id;
    this.update();
    requestAnimationFrame(() => {
      const row = this.node.querySelector(`[data-session-id="${CSS.escape(id)}"]`);
      row?.scrollIntoView({ block: 'nearest' });
    });
  }

  render(): JSX.Element {
    return (
      <SidebarView model={this.model} actions={this.actions} highlight={this._highlight} />
    );
  }

  private _highlight: string | null = null;
}

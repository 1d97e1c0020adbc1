/** The status bar item: sessions working / waiting for you, today's cost. */

import { Widget } from '@lumino/widgets';

import * as fmt from './format';
import { SidebarModel } from './model';
import { Summary, summarise } from './state';

export function summaryText(s: Summary): string {
  const parts = [`${s.working} working`];
  if (s.waiting > 0) {
    parts.push(`${s.waiting} waiting for you`);
  }
  parts.push(`${fmt.cost(s.costToday)} today`);
  return `ML Intern: ${parts.join(' · ')}`;
}

export class StatusItem extends Widget {
  constructor(
    private readonly model: SidebarModel,
    onClick: () => void
  ) {
    super();
    this.addClass('mlij-status');
    this.node.title = 'Open the ML Intern panel';
    this.node.setAttribute('role', 'button');
    this.node.addEventListener('click', onClick);
    model.changed.connect(this._render, this);
    this._render();
  }

  private _render(): void {
    const summary = summarise(this.model.state);
    this.node.textContent = summaryText(summary);
    this.node.classList.toggle('mlij-status-waiting', summary.waiting > 0);
  }
}

/** The status bar item: sessions working / waiting for you, today's cost. */

import { Widget } from '@lumino/widgets';

import * as fmt from './format';
import { SidebarModel } from './model';
import { summarise } from './state';

export class StatusItem extends Widget {
  constructor(
    private readonly model: SidebarModel,
    onClick: () => void
  ) {
    super();
    this.addClass('mlij-status');
    this.node.title =
      'Open the ML Intern panel (today’s cost: the sessions active since midnight)';
    this.node.setAttribute('role', 'button');
    this.node.addEventListener('click', onClick);
    model.changed.connect(this._render, this);
    this._render();
  }

  private _render(): void {
    const summary = summarise(this.model.state);
    this.node.textContent = fmt.summaryText(summary);
    this.node.classList.toggle('mlij-status-waiting', summary.waiting > 0);
  }
}

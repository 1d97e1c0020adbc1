/** The sidebar's one store: the reducer's state plus a changed signal. */

import { ISignal, Signal } from '@lumino/signaling';

import { Action, State, initialState, reduce } from './state';

export class SidebarModel {
  get state(): State {
    return this._state;
  }

  /** Emitted with the previous state after every change. */
  get changed(): ISignal<this, State> {
    return this._changed;
  }

  dispatch = (action: Action): void => {
    const before = this._state;
    const after = reduce(before, action);
    if (after !== before) {
      this._state = after;
      this._changed.emit(before);
    }
  };

  private _state: State = initialState();
  private _changed = new Signal<this, State>(this);
}

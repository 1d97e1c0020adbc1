/** Which notices become notifications (pure; the settings decide). */

import { NoticeMessage } from './protocol';

export interface NotifySettings {
  approval: boolean;
  error: boolean;
  turnDone: boolean;
  longTurnSeconds: number;
}

export const DEFAULT_NOTIFY: NotifySettings = {
  approval: true,
  error: true,
  turnDone: true,
  longTurnSeconds: 30
};

/** Whether a notice is one to show under these settings (pure). */
export function wanted(notice: NoticeMessage, settings: NotifySettings): boolean {
  switch (notice.kind) {
    case 'approval':
      return settings.approval;
    case 'error':
      return settings.error;
    case 'turn_done':
      return settings.turnDone && (notice.duration_s ?? 0) > settings.longTurnSeconds;
  }
  return false;
}

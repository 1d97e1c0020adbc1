/** How numbers and times read in the panel (pure functions). */

import type { Summary } from './state';

/** "just now", "2 min ago", "3 h ago", "yesterday", "4 days ago", or a date. */
export function ago(epochSeconds: number, nowMs: number = Date.now()): string {
  if (!epochSeconds) {
    return '';
  }
  const seconds = Math.max(0, Math.round(nowMs / 1000 - epochSeconds));
  if (seconds < 45) {
    return 'just now';
  }
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ago`;
  }
  const hours = Math.round(minutes / 60);
  if (hours < 24) {
    return `${hours} h ago`;
  }
  const days = Math.round(hours / 24);
  if (days === 1) {
    return 'yesterday';
  }
  if (days < 30) {
    return `${days} days ago`;
  }
  return new Date(epochSeconds * 1000).toISOString().slice(0, 10);
}

export function cost(usd: number): string {
  if (!usd) {
    return '$0';
  }
  if (usd < 0.01) {
    return '<$0.01';
  }
  return `$${usd.toFixed(2)}`;
}

export function tokens(n: number): string {
  if (n < 1000) {
    return `${n} tok`;
  }
  if (n < 1_000_000) {
    return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k tok`;
  }
  return `${(n / 1_000_000).toFixed(1)}M tok`;
}

export function shorten(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** Tool arguments for display: pretty JSON when it parses, else as sent. */
export function prettyArguments(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** The status bar item's text. */
export function summaryText(s: Summary): string {
  const parts = [`${s.working} working`];
  if (s.waiting > 0) {
    parts.push(`${s.waiting} waiting for you`);
  }
  parts.push(`${cost(s.costToday)} today`);
  return `ML Intern: ${parts.join(' · ')}`;
}

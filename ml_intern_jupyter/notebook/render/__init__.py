"""Widget-free rendering: markdown/HTML helpers, tool cards, the turn transcript, text mode,
the history as markdown."""

"""Traces: secret scrubbing, Claude Code JSONL conversion, upload."""

"""Widgets: the live view of a turn and its parts, the restart banner, the model picker."""

"""The agent, free of Jupyter: sessions, the turn loop, the model client."""

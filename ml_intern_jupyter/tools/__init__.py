"""Tools the agent can call: the spec, the router and the built-in tools."""

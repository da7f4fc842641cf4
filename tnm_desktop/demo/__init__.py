"""The demo: a local workspace with data, the simulator, the receiver and the agent, all running."""

"""`kyb`: the command line (server, agent, up, and kubectl-style verbs as they arrive)."""

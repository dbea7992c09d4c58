"""The client portal: what a client organisation's people see of their projects, tickets and deliverables."""

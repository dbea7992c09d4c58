"""Workflows: the states of records, the transitions between them, and approval chains."""

"""Automations: events from the outbox, rules that react to them, schedules, and the jobs that run them."""

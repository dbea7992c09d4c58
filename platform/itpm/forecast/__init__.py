"""Forecasts of a project's finish date and cost, its risk flags, and how often past forecasts came true.

`simulation` and `evm` are pure (inputs in, figures out); `service` reads the records
through the access layer and keeps the forecasts it issues; `backtest` scores them.
"""

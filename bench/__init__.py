"""itpm's benchmarks: `python -m bench [NAME...]` (what `make bench` runs)."""

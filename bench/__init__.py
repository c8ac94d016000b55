"""Benchmarks of halls: `make bench` (bench/run.py) and `bench/profile.py`; see bench/README.md."""

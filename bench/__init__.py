"""Side-by-side benchmarks (`make bench`): see bench/__main__.py and docs/performance.md."""

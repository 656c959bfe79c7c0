"""Speed measurements for the course (run with ``python -m benchmarks.run_all``; never timed tests)."""

"""Benchmarks of the pipeline against its peers and against PostgreSQL's own limits (`make bench`).

Each module measures one thing and exposes `run(ctx: BenchContext) -> Section`; `benchmarks.run`
runs them and writes benchmarks/RESULTS.md.
"""

"""Pure statistics on frames: no I/O, no store or web imports, so results are reproducible.

Callers (CLI, jobs, report) fetch data from the store, pass Polars frames in and get typed
results back; every function here can be checked against an independent oracle in tests.
"""

"""memory_profiler_driver.py - memory_target.main under memory_profiler.

What `@profile` on main(), load_and_release() and small_allocations() plus
`python -m memory_profiler memory_target.py` would do, without editing the
target: both functions are wrapped by one memory_profiler.LineProfiler,
main() runs, and the line tables are printed. For the comparison in
tests/e2e/test_memory.py (Debian's python3-memory-profiler).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import memory_target  # noqa: E402
from memory_profiler import LineProfiler, show_results  # noqa: E402

profiler = LineProfiler()
memory_target.small_allocations = profiler(memory_target.small_allocations)
memory_target.load_and_release = profiler(memory_target.load_and_release)
profiler(memory_target.main)()
show_results(profiler, stream=sys.stdout)

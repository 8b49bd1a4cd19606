"""goleak: read Go goroutine dumps, cluster them, compare snapshots and name the leaks."""

__version__ = "0.1.0"

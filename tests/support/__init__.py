"""Helpers every test area shares: free ports (`ports`), bounded waits (`waiting`), network namespaces and the
processes run inside them (`topology`). Import the module you need: `from tests.support.ports import free_port`."""

"""Tests that try to break a real server: kill -9 loops, damaged files, a full disk, concurrent
writers and searchers, and hostile requests to every RPC. See docs/reliability.md."""

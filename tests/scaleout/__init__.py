"""Scale-out tests: Milvus stores, Ray Serve encoder replicas, the deployment files.

A package, so that ``tests/`` (not this folder) goes on ``sys.path``: the ``ray`` folder here
must never shadow the ``ray`` library.
"""

#!/bin/sh
# A front-end joins the Ray cluster as a node without CPUs (it runs no replica, only the Serve
# handle that sends batches to them), then serves gRPC. Flags and SIMSEARCH_* variables pass
# through to `simsearch serve`.
set -eu
ray start --address "${RAY_HEAD:?set RAY_HEAD to host:port of the Ray head}" --num-cpus 0 \
    --disable-usage-stats
exec simsearch serve --encoder ray --ray-address auto "$@"

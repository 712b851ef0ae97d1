"""Generated protobuf and gRPC code for simsearch.v1 (run scripts/gen_proto.py; never edit)."""

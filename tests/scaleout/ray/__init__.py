"""Encoder replicas on Ray Serve (``simsearch serve --encoder ray``) on a real local cluster."""

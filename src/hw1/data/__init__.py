"""Datasets: locating, fingerprinting, safe reading and decoding into in-memory tensors."""

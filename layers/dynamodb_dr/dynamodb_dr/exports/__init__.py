"""Scheduled S3 exports (FULL + gap-free INCREMENTAL chain) and rebuilding a table from them."""

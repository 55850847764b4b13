"""Shared core of the analytics pipeline: schema, stream I/O, SQL and batch logic."""

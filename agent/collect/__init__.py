"""Collectors: each returns one JSON-able section of the report."""

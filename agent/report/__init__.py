"""A report, from request to bundle: the request and its validator, one module per section, redaction,
size cuts, the summary and report.html, the tar.gz bundle, and the one pipeline that builds it."""

"""The operator console at /console: signed-in pages over the same Redis the worker uses."""

"""Reading the operator's folder: strict YAML with file:line errors, sizes, durations."""

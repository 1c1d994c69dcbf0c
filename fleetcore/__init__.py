"""The shared kernel below hardware/, topologies/ and planner/: units, line-tracking YAML, errors
with file:line, the strict schema base and plain-text tables. It imports none of those packages."""

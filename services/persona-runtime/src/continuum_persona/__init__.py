"""persona-runtime: the personas of a node, their cognition and their inference."""

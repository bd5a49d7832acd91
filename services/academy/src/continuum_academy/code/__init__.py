"""The code domain's executor: workspaces, proposals, their test runs, and the
human's approval that commits a change on a branch of its own (ADR 0024)."""

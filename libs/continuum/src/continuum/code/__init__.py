"""The code domain's shared parts: unified diffs checked before they touch
anything, and git as the only way a workspace is read or written."""

"""The academy: challenges, graders, leaderboards, self-training, A/B tests, evolution."""

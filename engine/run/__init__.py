"""`engine run`: a rollout stage's machines trading market data through a venue."""

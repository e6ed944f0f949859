"""Reinforcement learning (PPO via stable-baselines3 on gymnasium, seed 004).

Reserved: no trainer yet, so `engine train rl` answers "not available yet" (exit 2),
and no spec names an action of provider `rl` yet.
"""

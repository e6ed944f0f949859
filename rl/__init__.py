"""Reinforcement learning (PPO via stable-baselines3 on gymnasium, seed 004).

Reserved for the RL issue: `engine train rl` answers "not implemented" until then,
and no spec names an action of provider `rl` yet.
"""

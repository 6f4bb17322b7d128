"""Training and benchmark data: unified records, source converters and the procedural shapes world.

`unireward.data.shapes` is a seeded world with exact ground truth for all four tasks, so a tiny reward
model can be trained from scratch, benchmarked on a held-out split and used to score DPO candidates
without any download.
"""

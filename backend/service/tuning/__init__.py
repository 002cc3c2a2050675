"""The tokens-per-joule tuner: a group's lever stepped through its range, tokens/s and power
measured at each step, and the step with the best tokens per joule above a throughput floor."""

"""Token-aware power: how a group of GPUs trades tokens for watts, and caps that meet a power
budget while losing the fewest tokens."""

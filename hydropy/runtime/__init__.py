"""What running programs use: operator implementations, batches and routing, stage hosts."""

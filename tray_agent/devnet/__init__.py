"""Local devnet: simulated worker and chain replica (offline)."""

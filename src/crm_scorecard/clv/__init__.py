"""Customer value: BG/NBD and Gamma-Gamma fitted by maximum likelihood, per-customer predictions."""

"""Training: one job (jobs), the trainer loop, its clock and work, metrics, results."""

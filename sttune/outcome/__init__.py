"""What a search answers: selection, the frontier, verification, export, report, plots, JSON."""

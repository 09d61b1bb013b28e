"""Search: studies per dataset, trial spaces, early stopping, selection, export, reports."""

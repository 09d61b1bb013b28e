"""The recipe: its blocks and settings (spec, settings), the validator (schema)."""

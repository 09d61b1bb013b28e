"""Plugins: entry-point discovery (discovery) and recipe blocks made live objects (build)."""

"""Vault models (filled by the vault core)."""

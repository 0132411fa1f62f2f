"""Reconciliation (seed 002, "Reconciliação"): read identity sources and applications back into the directory."""

"""Machinery shared by the recipes (lorascope.recipes): experiment files, the ledger, jobs and tables."""

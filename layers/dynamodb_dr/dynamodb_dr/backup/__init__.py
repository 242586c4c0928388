"""Scheduled on-demand backups with the PITR guard, and the ledger of the backups the tool made."""

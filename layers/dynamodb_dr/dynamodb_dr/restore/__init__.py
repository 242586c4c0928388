"""Point-in-time restore of protected tables: plan, restore, re-apply settings, validate, cut over.

Each step is one action of the restore Lambda functions, driven by statemachines/restore.asl.json.
"""

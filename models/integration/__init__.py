"""Integration with other systems: API tokens, idempotent calls and exports for auditors."""

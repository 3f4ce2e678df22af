"""Sinks: where routed triggers go. ``base`` holds the contract every sink implements."""

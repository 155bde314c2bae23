"""Users, roles, tokens and API keys."""

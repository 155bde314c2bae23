"""Products as users see them: search, detail, watch lists."""

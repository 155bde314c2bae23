"""Facts -> text: templates and an optional, number-guarded LLM rewriter."""

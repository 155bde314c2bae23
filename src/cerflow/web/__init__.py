"""Server-rendered web pages for regulatory writers and safety physicians.

They sit on top, beside the API: they call the same domain services and never the reverse.
"""

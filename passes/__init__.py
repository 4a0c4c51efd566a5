"""hydropy.passes: analyses and rewrites, each a plain function over a Graph."""

"""``hydropy explore``: profile a program, enumerate its design points, estimate and compare them.

One module per idea: :mod:`.profile` (what the single-node run does per operator),
:mod:`.enumerate` (design points built by applying plan steps), :mod:`.replay` (each design
point's emitted stages run in one process and timed), :mod:`.model` (the cost model and its
calibrated constants), :mod:`.measure` (runs on Ray), :mod:`.report` (table, JSON, HTML).
"""

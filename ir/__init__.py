"""hydropy.ir: the dataflow graph, its operator kinds, printers and serialisation."""
from .graph import MAIN, Graph, Node
from .ops import AT_LEAST_ONCE, EXACTLY_ONCE, KEYED, SINGLETON, SPECS, STREAM, Collection, OpSpec
from .source import SourceLoc, UserFn
from .verify import verify

__all__ = ["MAIN", "Graph", "Node", "AT_LEAST_ONCE", "EXACTLY_ONCE", "KEYED", "SINGLETON", "SPECS",
           "STREAM", "Collection", "OpSpec", "SourceLoc", "UserFn", "verify"]
from .printer import to_dot, to_mermaid, to_text
from .serialize import from_json, to_json

__all__ += ["to_dot", "to_mermaid", "to_text", "from_json", "to_json"]

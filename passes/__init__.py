"""hydropy.passes: analyses and rewrites over the IR, each a pure function of a Graph."""
from .analysis import report
from .boundedness import boundedness
from .dependencies import Dependency, functional_dependencies
from .keys import KeyInfo, KeyOrigin, key_lineage, record_lineage
from .lineage import Lineage, element_lineage, key_of_output, node_lineage, output_lineage
from .monotonicity import Finding, PointOfOrder, monotonicity, points_of_order
from .state import StateEntry, state_inventory

__all__ = ["Dependency", "Finding", "KeyInfo", "KeyOrigin", "PointOfOrder", "StateEntry",
           "boundedness", "functional_dependencies", "key_lineage", "monotonicity",
           "points_of_order", "record_lineage", "report", "state_inventory",
           "Lineage", "element_lineage", "key_of_output", "node_lineage", "output_lineage"]

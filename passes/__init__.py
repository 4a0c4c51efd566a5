"""hydropy.passes: analyses and rewrites over the IR, each a pure function of a Graph."""
from .analysis import (Dependency, Finding, KeyInfo, KeyOrigin, PointOfOrder, StateEntry,
                       boundedness, functional_dependencies, key_lineage, monotonicity,
                       points_of_order, record_lineage, report, state_inventory)
from .lineage import Lineage, element_lineage, key_of_output, node_lineage, output_lineage

__all__ = ["Dependency", "Finding", "KeyInfo", "KeyOrigin", "PointOfOrder", "StateEntry",
           "boundedness", "functional_dependencies", "key_lineage", "monotonicity",
           "points_of_order", "record_lineage", "report", "state_inventory",
           "Lineage", "element_lineage", "key_of_output", "node_lineage", "output_lineage"]

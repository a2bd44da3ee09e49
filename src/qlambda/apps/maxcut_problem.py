"""The classical side of MaxCut: graphs, the cost Hamiltonian, cut values, exact optima.

Conventions used throughout ``qlambda.apps``:

* Graphs are unweighted, with nodes labelled ``0 .. n-1``; node ``i`` is qubit ``i``.
* Bitstrings follow Qiskit's order: the *last* character is qubit (node) 0, so
  node ``i`` sits at ``bitstring[-1 - i]``. Samplers return them that way.
* The Hamiltonian is ``H = sum over edges (i, j) of 0.5 * (Z_i Z_j - 1)``. An edge
  whose ends sit on different sides contributes -1, any other edge 0, so the
  energy of a basis state is minus its cut value and the ground energy is minus
  the maximum cut. Minimising ``<H>`` therefore maximises the expected cut.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from qiskit.quantum_info import SparsePauliOp

BRUTE_FORCE_MAX_NODES = 24
"""Enumeration enumerates 2**(n-1) cuts; past this it takes too long to be a check."""


def random_regular_graph(nodes: int, degree: int = 3, seed: int | None = None) -> nx.Graph[int]:
    """A uniformly random ``degree``-regular graph, the instances HamLib's MaxCut set uses."""
    check_positive_int("nodes", nodes)
    check_positive_int("degree", degree)
    if nodes < degree + 1:
        raise ValueError(
            f"a {degree}-regular graph needs at least {degree + 1} nodes, got nodes={nodes}"
        )
    if (nodes * degree) % 2:
        raise ValueError(
            f"a {degree}-regular graph on {nodes} nodes does not exist: nodes * degree must be "
            f"even, got {nodes} * {degree} = {nodes * degree}; use an even number of nodes"
        )
    graph: nx.Graph[int] = nx.random_regular_graph(degree, nodes, seed=seed)
    return graph


def maxcut_hamiltonian(graph: nx.Graph[int]) -> SparsePauliOp:
    """The cost Hamiltonian ``sum 0.5 * (Z_i Z_j - 1)`` whose ground energy is ``-max cut``."""
    nodes = _node_count(graph)
    edges = list(graph.edges())
    if not edges:
        raise ValueError("the graph has no edges, so every cut is 0: nothing to optimise")
    terms = [("ZZ", [i, j], 0.5) for i, j in edges]
    terms.append(("", [], -0.5 * len(edges)))
    return SparsePauliOp.from_sparse_list(terms, num_qubits=nodes).simplify()


def cut_value(graph: nx.Graph[int], bitstring: str) -> int:
    """Number of edges whose ends the bitstring (Qiskit order) puts on different sides."""
    nodes = _node_count(graph)
    if len(bitstring) != nodes or set(bitstring) - {"0", "1"}:
        raise ValueError(
            f"bitstring must have exactly {nodes} characters, each '0' or '1', got {bitstring!r}"
        )
    return sum(bitstring[-1 - i] != bitstring[-1 - j] for i, j in graph.edges())


def brute_force_maxcut(graph: nx.Graph[int]) -> int:
    """The exact maximum cut, by enumerating every cut (vectorised; fine up to ~20 nodes)."""
    nodes = _node_count(graph)
    if nodes > BRUTE_FORCE_MAX_NODES:
        raise ValueError(
            f"brute force enumerates 2**(n-1) cuts and accepts at most "
            f"{BRUTE_FORCE_MAX_NODES} nodes, got {nodes}"
        )
    if nodes < 2 or graph.number_of_edges() == 0:
        return 0
    # Swapping the two sides leaves a cut unchanged, so the last node stays on side 0.
    cuts = np.arange(2 ** (nodes - 1), dtype=np.int64)
    sizes = np.zeros(cuts.shape, dtype=np.int32)
    for i, j in graph.edges():
        sizes += ((cuts >> i) ^ (cuts >> j)) & 1
    return int(sizes.max())


def _node_count(graph: nx.Graph[int]) -> int:
    """Check the labelling every other function relies on (node i is qubit i)."""
    nodes = graph.number_of_nodes()
    if set(graph.nodes()) != set(range(nodes)):
        raise ValueError(
            "graph nodes must be labelled 0 .. n-1 (node i is qubit i); relabel with "
            "networkx.convert_node_labels_to_integers(graph)"
        )
    if graph.is_directed() or graph.is_multigraph():
        raise ValueError("MaxCut here takes a simple undirected graph (networkx.Graph)")
    if nx.number_of_selfloops(graph):
        raise ValueError("the graph has self-loops; a self-loop is never cut, remove it")
    return nodes


def check_positive_int(name: str, value: object) -> None:
    """Reject zero, negatives, floats and bools (``True`` is an int to Python)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")

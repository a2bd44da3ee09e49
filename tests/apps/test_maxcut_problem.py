"""The classical MaxCut pieces: the Hamiltonian's sign and qubit order, cuts, exact optima."""

import itertools

import networkx as nx
import numpy as np
import pytest

from qlambda.apps.maxcut_problem import (
    brute_force_maxcut,
    cut_value,
    maxcut_hamiltonian,
    random_regular_graph,
)


@pytest.mark.parametrize(("nodes", "seed"), [(4, 0), (6, 1), (8, 2), (10, 3)])
def test_hamiltonian_diagonal_is_minus_the_cut_of_each_basis_state(nodes, seed):
    graph = random_regular_graph(nodes, 3, seed=seed)
    matrix = maxcut_hamiltonian(graph).to_matrix(sparse=True)
    diagonal = matrix.diagonal()
    assert matrix.count_nonzero() == np.count_nonzero(diagonal)  # diagonal in the Z basis
    cuts = [cut_value(graph, format(index, f"0{nodes}b")) for index in range(2**nodes)]
    np.testing.assert_allclose(diagonal, -np.array(cuts))


@pytest.mark.parametrize(("nodes", "seed"), [(4, 0), (6, 1), (8, 2)])
def test_ground_energy_is_minus_the_brute_force_max_cut(nodes, seed):
    graph = random_regular_graph(nodes, 3, seed=seed)
    ground = np.linalg.eigvalsh(maxcut_hamiltonian(graph).to_matrix())[0]
    assert ground == pytest.approx(-brute_force_maxcut(graph))


@pytest.mark.parametrize(("nodes", "seed"), [(10, 3), (12, 4), (14, 5)])
def test_lowest_diagonal_energy_is_minus_the_brute_force_max_cut(nodes, seed):
    graph = random_regular_graph(nodes, 3, seed=seed)
    diagonal = maxcut_hamiltonian(graph).to_matrix(sparse=True).diagonal()
    assert diagonal.real.min() == pytest.approx(-brute_force_maxcut(graph))


def test_brute_force_matches_enumeration_of_every_assignment():
    graph = random_regular_graph(8, 3, seed=5)
    every_cut = (cut_value(graph, "".join(bits)) for bits in itertools.product("01", repeat=8))
    assert brute_force_maxcut(graph) == max(every_cut)


def test_known_graphs_have_their_known_max_cut():
    assert brute_force_maxcut(nx.complete_bipartite_graph(3, 3)) == 9  # bipartite: every edge
    assert brute_force_maxcut(nx.complete_graph(4)) == 4
    assert brute_force_maxcut(nx.petersen_graph()) == 12
    assert brute_force_maxcut(nx.cycle_graph(5)) == 4  # odd cycle: one edge stays uncut


def test_cut_value_reads_node_i_from_the_end_of_the_bitstring():
    path = nx.path_graph(3)  # edges 0-1, 1-2
    assert cut_value(path, "001") == 1  # node 0 alone on side 1
    assert cut_value(path, "010") == 2  # node 1 alone cuts both edges
    assert cut_value(path, "100") == 1


def test_random_regular_graph_is_regular_and_reproducible():
    graph = random_regular_graph(10, 3, seed=7)
    assert sorted(graph.nodes()) == list(range(10))
    assert {d for _, d in graph.degree()} == {3}
    assert graph.number_of_edges() == 15
    assert sorted(graph.edges()) == sorted(random_regular_graph(10, 3, seed=7).edges())


@pytest.mark.parametrize(
    ("nodes", "degree", "message"),
    [
        (7, 3, "nodes \\* degree must be even"),
        (3, 3, "needs at least 4 nodes"),
        (0, 3, "nodes must be a positive integer"),
        (8.0, 3, "nodes must be a positive integer"),
        (8, 0, "degree must be a positive integer"),
    ],
)
def test_impossible_regular_graphs_are_refused_with_the_reason(nodes, degree, message):
    with pytest.raises(ValueError, match=message):
        random_regular_graph(nodes, degree)


def test_graphs_that_break_the_conventions_are_refused():
    with pytest.raises(ValueError, match=r"labelled 0 \.\. n-1"):
        maxcut_hamiltonian(nx.relabel_nodes(nx.path_graph(3), {0: "a", 1: "b", 2: "c"}))
    with pytest.raises(ValueError, match="no edges"):
        maxcut_hamiltonian(nx.empty_graph(4))
    looped = nx.path_graph(3)
    looped.add_edge(1, 1)
    with pytest.raises(ValueError, match="self-loops"):
        maxcut_hamiltonian(looped)
    with pytest.raises(ValueError, match="exactly 3 characters"):
        cut_value(nx.path_graph(3), "01")
    with pytest.raises(ValueError, match="'0' or '1'"):
        cut_value(nx.path_graph(3), "0a1")

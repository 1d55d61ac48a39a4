"""The step graph on its own: levels, order, batches, critical path, cycles and groups."""

from __future__ import annotations

import pytest

from pipelines_app.dag import CycleError, StepGraph
from tests.pipelines_app.conftest import step


def graph(*steps: dict) -> StepGraph:
    return StepGraph.from_steps(list(steps))


def test_levels_hold_steps_whose_dependencies_are_all_in_earlier_levels():
    g = graph(step("d", "b", "c"), step("b", "a"), step("c", "a"), step("a"), step("e", "a", "d"))

    assert g.levels() == [["a"], ["b", "c"], ["d"], ["e"]]


def test_order_is_a_topological_order_with_ties_broken_by_step_id():
    g = graph(step("zeta"), step("alpha"), step("mid", "zeta"), step("beta", "alpha"))

    order = g.execution_order()["order"]

    assert order == ["alpha", "zeta", "beta", "mid"]


def test_stages_are_levels_cut_into_batches_no_wider_than_max_parallel():
    g = graph(step("root"), *(step(f"s{i}", "root") for i in range(5)), step("end", *(f"s{i}" for i in range(5))))

    result = g.execution_order(max_parallel=2)

    assert result["levels"] == [["root"], ["s0", "s1", "s2", "s3", "s4"], ["end"]]
    assert result["stages"] == [["root"], ["s0", "s1"], ["s2", "s3"], ["s4"], ["end"]]
    assert result["max_parallel"] == 2


def test_without_max_parallel_stages_are_the_levels():
    g = graph(step("a"), step("b"), step("c", "a", "b"))

    result = g.execution_order()

    assert result["stages"] == result["levels"] == [["a", "b"], ["c"]]
    assert result["max_parallel"] is None


def test_critical_path_is_the_longest_worst_case_chain():
    g = graph(
        step("start", timeout_seconds=10),
        step("fast", "start", timeout_seconds=100, retry_count=0),
        step("flaky", "start", timeout_seconds=30, retry_count=4),
        step("end", "fast", "flaky", timeout_seconds=1),
    )

    critical = g.execution_order()["critical_path"]

    assert critical == {"steps": ["start", "flaky", "end"], "duration_seconds": 10 + 30 * 5 + 1}


def test_steps_without_a_timeout_count_as_zero_on_the_critical_path():
    g = graph(step("a"), step("b", "a"), step("c", "b", timeout_seconds=7))

    assert g.execution_order()["critical_path"] == {"steps": ["a", "b", "c"], "duration_seconds": 7}


def test_two_separate_cycles_are_both_found_each_from_its_smallest_id():
    g = graph(step("a", "c"), step("b", "a"), step("c", "b"), step("x", "y"), step("y", "x"), step("ok"))

    cycles, truncated = g.cycles()

    assert cycles == [["a", "b", "c"], ["x", "y"]]
    assert truncated is False


def test_every_elementary_cycle_in_one_tangle_is_found():
    # b sits on two cycles: a -> b -> a and b -> c -> b.
    g = graph(step("a", "b"), step("b", "a", "c"), step("c", "b"))

    cycles, _ = g.cycles()

    assert cycles == [["a", "b"], ["b", "c"]]


def test_cycle_enumeration_is_capped_on_a_dense_tangle():
    ids = [f"n{i}" for i in range(8)]
    g = graph(*(step(i, *(j for j in ids if j != i)) for i in ids))  # every pair depends on each other

    cycles, truncated = g.cycles(limit=20)

    assert len(cycles) == 20 and truncated is True


def test_levels_refuse_a_cyclic_graph():
    with pytest.raises(CycleError):
        graph(step("a", "b"), step("b", "a")).levels()


def test_components_group_steps_connected_in_either_direction():
    g = graph(step("a"), step("b", "a"), step("lonely"), step("c", "b"), step("x"), step("y", "x"))

    assert g.components() == [["a", "b", "c"], ["lonely"], ["x", "y"]]


def test_malformed_steps_are_left_out_instead_of_crashing():
    g = StepGraph.from_steps([None, 3, {"id": 5}, {"id": "a", "depends_on": "b"}, {"id": "b", "depends_on": [1, "a"]}])

    assert g.levels() == [["a"], ["b"]]


def test_a_long_chain_does_not_hit_the_recursion_limit():
    ids = [f"s{i:05d}" for i in range(5000)]
    g = graph(step(ids[0]), *(step(ids[i], ids[i - 1]) for i in range(1, len(ids))), step("back", ids[-1]))
    g_cyclic = graph(step(ids[0], ids[-1]), *(step(ids[i], ids[i - 1]) for i in range(1, len(ids))))

    assert len(g.levels()) == 5001
    assert [len(c) for c in g_cyclic.cycles()[0]] == [5000]

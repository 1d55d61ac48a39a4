"""The pipeline's step graph: the one place its graph algorithms live, used by validation, the API's
execution-order endpoint and the admin's DAG picture.

Edges point in execution direction: ``a -> b`` means ``b`` depends on ``a`` (``a`` must finish first). Step ids
are sorted once when the graph is built; everything after that (levels, order, critical path, components) is
linear in steps + edges. Only cycle *enumeration* (for error reports) can be more, so it is capped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kernel.rules.validation import Report, pointer

# A DAG of n steps can hide exponentially many elementary cycles; a report lists this many and says there are more.
MAX_REPORTED_CYCLES = 20


class CycleError(ValueError):
    """The steps do not form a DAG (only possible for a document that failed validation)."""


@dataclass(frozen=True)
class Step:
    id: str
    index: int  # position in the document's ``steps`` list, for JSON Pointers
    depends_on: tuple[str, ...]  # known dependencies, without self-references or repeats
    timeout_seconds: int | None
    retry_count: int

    @property
    def worst_case_seconds(self) -> int:
        """Every attempt runs into its timeout. A step without a timeout counts as 0 s: only the pipeline's
        timeout bounds it."""
        return (self.timeout_seconds or 0) * (1 + self.retry_count)


def _int_or(value: Any, default: int | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


class StepGraph:
    def __init__(self, steps: list[Step]):
        self.steps: dict[str, Step] = {step.id: step for step in steps}
        self.sorted_ids: list[str] = sorted(self.steps)
        self.dependents: dict[str, list[str]] = defaultdict(list)
        # Filling dependents in sorted-id order keeps every adjacency list sorted without sorting it.
        for step_id in self.sorted_ids:
            for dependency in self.steps[step_id].depends_on:
                self.dependents[dependency].append(step_id)

    @classmethod
    def from_steps(cls, steps: Any, report: Report | None = None) -> StepGraph:
        """Build the graph from a document's ``steps``, tolerating malformed entries (they are left out).

        With a ``report``, the structural problems are added to it: a duplicate id, a dependency that is not a
        string, on an unknown step or on the step itself. The graph keeps the first step of a duplicated id.
        """
        if not isinstance(steps, list):
            return cls([])
        first_index: dict[str, int] = {}
        for index, raw in enumerate(steps):
            step_id = raw.get("id") if isinstance(raw, dict) else None
            if not isinstance(step_id, str):
                continue
            if step_id in first_index:
                if report is not None:
                    report.error(
                        pointer("steps", index, "id"),
                        "duplicate_step_id",
                        f"Step id '{step_id}' is already used by step {first_index[step_id]}; ids must be unique.",
                    )
                continue
            first_index[step_id] = index
        built = []
        for index, raw in enumerate(steps):
            if not isinstance(raw, dict):
                continue
            step_id = raw.get("id")
            depends_on = raw.get("depends_on")
            known: dict[str, None] = {}  # ordered set
            for position, dependency in enumerate(depends_on if isinstance(depends_on, list) else []):
                problem = None
                if not isinstance(dependency, str):
                    problem = "invalid_type", f"Expected a step id (string), got {type(dependency).__name__}."
                elif dependency in known:
                    continue  # the schema reports repeats
                elif dependency == step_id:
                    problem = "self_dependency", f"Step '{step_id}' depends on itself."
                elif dependency not in first_index:
                    problem = (
                        "unknown_dependency",
                        f"Step '{step_id}' depends on '{dependency}', which is not a step of this pipeline.",
                    )
                else:
                    known[dependency] = None
                if problem and report is not None:
                    report.error(pointer("steps", index, "depends_on", position), *problem)
            if isinstance(step_id, str) and first_index.get(step_id) == index:
                timeout, retries = _int_or(raw.get("timeout_seconds"), None), _int_or(raw.get("retry_count"), 0)
                built.append(Step(step_id, index, tuple(known), timeout, retries))
        return cls(built)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def edge_count(self) -> int:
        return sum(len(step.depends_on) for step in self.steps.values())

    # -- order ------------------------------------------------------------------------------------------------

    def levels(self) -> list[list[str]]:
        """The DAG's levels: a step's level is one more than its deepest dependency's. Kahn's algorithm, so
        O(steps + edges); each level lists its step ids in sorted order."""
        remaining = {step_id: len(step.depends_on) for step_id, step in self.steps.items()}
        level = {step_id: 0 for step_id in self.steps}
        ready = [step_id for step_id in self.sorted_ids if remaining[step_id] == 0]
        seen = 0
        while ready:
            step_id = ready.pop()
            seen += 1
            for dependent in self.dependents[step_id]:
                level[dependent] = max(level[dependent], level[step_id] + 1)
                remaining[dependent] -= 1
                if remaining[dependent] == 0:
                    ready.append(dependent)
        if seen != len(self.steps):
            raise CycleError("The steps contain a cycle.")
        buckets: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for step_id in self.sorted_ids:  # sorted once, so every bucket comes out sorted
            buckets[level[step_id]].append(step_id)
        return buckets

    def critical_path(self, levels: list[list[str]], weight: Callable[[Step], int]) -> tuple[list[str], int]:
        """The heaviest chain of dependencies by ``weight``: ``(step ids, summed weight)``. O(steps + edges).
        Ties between dependencies go to the smaller step id."""
        finish: dict[str, int] = {}
        via: dict[str, str | None] = {}
        for level in levels:
            for step_id in level:
                step = self.steps[step_id]
                best = min(step.depends_on, key=lambda d: (-finish[d], d)) if step.depends_on else None
                finish[step_id] = (finish[best] if best is not None else 0) + weight(step)
                via[step_id] = best
        if not finish:
            return [], 0
        # finish is filled in topological order; on a tie the later step wins, so a chain that continues
        # through steps without a timeout is followed to its end.
        longest = max(finish.values())
        end = [step_id for step_id in finish if finish[step_id] == longest][-1]
        path = [end]
        while via[path[-1]] is not None:
            path.append(via[path[-1]])
        return path[::-1], finish[end]

    def execution_order(self, max_parallel: int | None = None) -> dict:
        """``stages``: what runs together, in run order: each DAG level cut into batches of at most
        ``max_parallel`` steps (so, with no level wider than ``max_parallel``, exactly the levels).
        ``levels``: the DAG levels uncut. ``order``: one topological order, the levels in turn, ties by step id.
        ``critical_path``: the chain whose worst case (timeout x (1 + retries), summed) is longest."""
        levels = self.levels()
        width = max_parallel if isinstance(max_parallel, int) and max_parallel >= 1 else None
        stages = (
            [level[i : i + width] for level in levels for i in range(0, len(level), width)]
            if width
            else [list(level) for level in levels]
        )
        path, seconds = self.critical_path(levels, lambda step: step.worst_case_seconds)
        return {
            "stages": stages,
            "levels": levels,
            "order": [step_id for level in levels for step_id in level],
            "max_parallel": width,
            "critical_path": {"steps": path, "duration_seconds": seconds},
        }

    # -- structure problems ---------------------------------------------------------------------------------

    def cycles(self, limit: int = MAX_REPORTED_CYCLES) -> tuple[list[list[str]], bool]:
        """Every elementary cycle (Johnson's algorithm over each strongly connected component), each starting
        at its smallest step id, up to ``limit``; the flag says whether more were left out."""
        found: list[list[str]] = []
        successors = {step_id: list(self.dependents[step_id]) for step_id in self.sorted_ids}
        components = [c for c in _strongly_connected(successors, self.sorted_ids) if len(c) > 1]
        while components:
            component = components.pop()
            start = min(component)
            if not _cycles_through(start, component, successors, found, limit):
                return sorted(found), True
            rest = component - {start}
            components.extend(c for c in _strongly_connected(successors, sorted(rest), within=rest) if len(c) > 1)
        return sorted(found), False

    def components(self) -> list[list[str]]:
        """Weakly connected groups of steps, each in document order, the group holding the first step first."""
        neighbours: dict[str, list[str]] = defaultdict(list)
        for step in self.steps.values():
            for dependency in step.depends_on:
                neighbours[step.id].append(dependency)
                neighbours[dependency].append(step.id)
        seen: set[str] = set()
        groups = []
        for step_id in sorted(self.steps, key=lambda s: self.steps[s].index):
            if step_id in seen:
                continue
            seen.add(step_id)
            group, stack = [], [step_id]
            while stack:
                current = stack.pop()
                group.append(current)
                for other in neighbours[current]:
                    if other not in seen:
                        seen.add(other)
                        stack.append(other)
            groups.append(sorted(group, key=lambda s: self.steps[s].index))
        return groups


def _strongly_connected(
    successors: dict[str, list[str]], nodes: list[str], within: set[str] | None = None
) -> list[set[str]]:
    """Tarjan's algorithm, iterative (no recursion limit), over ``nodes`` and the edges among ``within``."""
    inside = within if within is not None else set(nodes)
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[set[str]] = []
    counter = 0
    for root in nodes:
        if root in index_of:
            continue
        work = [(root, iter([s for s in successors[root] if s in inside]))]
        index_of[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index_of:
                    index_of[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter([s for s in successors[child] if s in inside])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index_of[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index_of[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                result.append(component)
    return result


def _cycles_through(
    start: str, component: set[str], successors: dict[str, list[str]], found: list[list[str]], limit: int
) -> bool:
    """Johnson's circuit search from ``start`` inside ``component``; appends to ``found``. False once ``limit``
    is reached."""
    blocked = {start}
    blocked_by: dict[str, set[str]] = defaultdict(set)
    closed: set[str] = set()
    path = [start]

    def neighbours(node: str) -> list[str]:
        # Reversed, so popping visits the smallest id first and the cycles come out in a stable order.
        return [s for s in reversed(successors[node]) if s in component]

    stack = [(start, neighbours(start))]
    while stack:
        node, pending = stack[-1]
        if pending:
            following = pending.pop()
            if following == start:
                found.append(list(path))
                if len(found) >= limit:
                    return False
                closed.update(path)
            elif following not in blocked:
                path.append(following)
                stack.append((following, neighbours(following)))
                closed.discard(following)
                blocked.add(following)
                continue
        if not pending:
            if node in closed:
                unblock = {node}
                while unblock:
                    current = unblock.pop()
                    if current in blocked:
                        blocked.discard(current)
                        unblock.update(blocked_by[current])
                        blocked_by[current].clear()
            else:
                for following in successors[node]:
                    if following in component:
                        blocked_by[following].add(node)
            stack.pop()
            path.pop()
    return True

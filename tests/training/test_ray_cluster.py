"""The population on a Ray cluster of several nodes on this machine (``ray.cluster_utils``).

One cluster of three one-CPU nodes (80 MB object store each) serves the module: members must
spread over the nodes and come back byte-identical to ``backend: local`` with merged experience,
fitness included (played on the workers); then a node running a member is removed in the middle
of a generation and the run still ends the same, its rerun recorded. The node removal test runs
last: it leaves the cluster a node short.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from marlpipe.training.trainers import LocalTrainer
from tests.helpers.ray_runs import ENV, assert_identical, tiny_run, worker_pythonpath

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

from marlpipe.training.ray_trainer import RayTrainer  # noqa: E402

pytestmark = pytest.mark.e2e  # starts a Ray cluster: deselect with -m 'not e2e'

NODES = 3
STORE = 80 * 1024 * 1024
"""Object store bytes per node: the machine runs several nodes side by side."""


@pytest.fixture(scope="module")
def cluster():
    """A head and two worker nodes, one CPU each, this driver connected to the head; shut down
    at the module's end whatever happened."""
    path = worker_pythonpath()
    made = cluster_utils.Cluster()
    try:
        made.add_node(num_cpus=1, object_store_memory=STORE, include_dashboard=False)
        for _ in range(NODES - 1):
            made.add_node(num_cpus=1, object_store_memory=STORE)
        made.wait_for_nodes()
        ray.init(address=made.address, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": path}})  # fmt: skip
        yield made
    finally:
        ray.shutdown()
        made.shutdown()


@pytest.fixture(scope="module")
def local_merged():
    return tiny_run(LocalTrainer(), eval_episodes=2)


def test_members_spread_over_nodes_and_match_local(cluster, local_merged):
    trainer = RayTrainer(ENV, workers=NODES)
    try:
        assert not trainer._owns_ray  # joined the fixture's cluster
        on_cluster = tiny_run(trainer, eval_episodes=2)
    finally:
        trainer.close()
    assert_identical(local_merged, on_cluster)
    members = [m for r in on_cluster[2] for m in r.members]
    nodes = {m.node for m in members}
    alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert len(nodes) > 1 and nodes <= alive, nodes
    assert all(m.evaluated_on == m.worker for m in members)  # fitness played where it trained
    assert all(r.extra["reruns"] == 0 for r in on_cluster[2])


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_removed_node_mid_generation_gives_the_same_result(cluster):
    """Remove a worker node while its worker trains a member of the second generation: the
    member is retrained on a worker elsewhere and the run ends exactly as without the removal."""
    # 30 fitness episodes per turn: a turn long enough that the removal lands inside it (with
    # 2, a turn on the fast path could end before the node was gone, and nothing was rerun)
    local_merged = tiny_run(LocalTrainer(), eval_episodes=30)
    trainer = RayTrainer(ENV, workers=2)  # three one-CPU nodes: one stays free
    head = cluster.head_node.node_id
    removed: list[str] = []

    def remove_mid_training(result, _state) -> None:
        if result.record.generation != 0:
            return
        nodes = ray.get([w.node.remote() for w in trainer.workers])
        slot = next(i for i, n in enumerate(nodes) if n != head)  # the driver needs the head
        node = next(n for n in cluster.worker_nodes if n.node_id == nodes[slot])
        pid = trainer.pids()[slot]
        start = _cpu_ticks(pid)

        def remover() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # busy once its next turn has started
                try:
                    busy = _cpu_ticks(pid) - start >= 5  # 50 ms of CPU: well into a turn
                except FileNotFoundError:
                    return
                if busy:
                    cluster.remove_node(node)
                    removed.append(node.node_id)
                    return
                time.sleep(0.005)

        threading.Thread(target=remover, daemon=True).start()

    try:
        on_cluster = tiny_run(trainer, eval_episodes=30, on_generation=remove_mid_training)
        assert removed and trainer.restarts == 1
    finally:
        trainer.close()
    assert_identical(local_merged, on_cluster)
    first, second = on_cluster[2]
    assert first.extra["reruns"] == 0 and second.extra["reruns"] == 1
    rerun = [m for m in second.members if m.reruns]
    assert len(rerun) == 1 and rerun[0].node != removed[0]  # retrained on a node still there
    assert all(m.evaluated_on == m.worker for m in second.members)

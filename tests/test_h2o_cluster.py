"""Scale-out: the training notebook run against an existing two-node H2O cluster formed on loopback."""

from __future__ import annotations

import h2o
import pytest
from mlflow import MlflowClient

from automlkit.h2o_cluster import free_port_pair
from conftest import h2o_cloud, run_training, start_h2o_node, stop_process, wait_for_cloud

pytestmark = pytest.mark.integration

MODEL = "two-node"


@pytest.fixture
def two_node_cluster(tmp_path):
    """Two JVMs from the pinned h2o.jar on distinct loopback ports, joined by a flatfile; stopped by PID."""
    ports = [free_port_pair()]
    ports.append(free_port_pair())
    while ports[1] in (ports[0], ports[0] + 1, ports[0] - 1):
        ports[1] = free_port_pair()
    flatfile = tmp_path / "flatfile.txt"
    flatfile.write_text("".join(f"127.0.0.1:{port}\n" for port in ports))
    name = f"automlkit-test-{ports[0]}"
    nodes = [start_h2o_node(name, port, tmp_path, flatfile) for port in ports]
    try:
        url = f"http://127.0.0.1:{ports[0]}"
        wait_for_cloud(url, 2, nodes)
        yield url, [f"127.0.0.1:{port}" for port in ports]
    finally:
        for node in nodes:
            stop_process(node)


def test_training_runs_on_an_existing_two_node_cluster_and_leaves_it_running(
        two_node_cluster, mlflow_server, sample_csv, tmp_path):
    url, members = two_node_cluster
    state = h2o_cloud(url)
    assert state["cloud_size"] == 2
    assert sorted(node["ip_port"] for node in state["nodes"]) == sorted(members)

    result = run_training(mlflow_server, sample_csv, [
        "-p", "h2o_url", url, "-p", "model_name", MODEL, "-p", "experiment_name", MODEL,
        "-p", "max_runtime_secs", "60", "-p", "max_models", "2", "-p", "nfolds", "3",
        "-p", "exclude_algos", "[DeepLearning, DRF, XGBoost]", "-p", "tuned_xgboost", "False"], tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]

    client = MlflowClient(mlflow_server)
    version = client.get_model_version_by_alias(MODEL, "champion")
    run = client.get_run(version.run_id)
    assert run.data.tags["h2o_nodes"] == "2"
    assert run.data.tags["h2o_url"] == url
    assert run.data.tags["h2o_cluster_started"] == "false"
    assert run.data.tags["h2o_version"] == h2o.__version__
    assert 0.5 < run.data.metrics["holdout_auc"] <= 1.0
    # the notebook only disconnects: the cluster it did not start is still there, both nodes in it
    after = h2o_cloud(url)
    assert after["cloud_size"] == 2 and after["cloud_healthy"]

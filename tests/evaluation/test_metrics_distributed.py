"""The ``skill_metrics`` evaluate module gathers uneven shards from two real processes into one result.

Each process loads the module with ``num_process=2`` and its ``process_id``, adds its own shard in batches and
calls ``compute``: process 0 gets the metrics over every row (equal to scikit-learn's), process 1 gets None.
One pair of spawned processes runs every case, so the (slow) imports of evaluate and torch happen once.
"""

import multiprocessing
import queue
import traceback
import uuid

import numpy as np
import pytest
from sklearn import metrics as skm

ROWS = (37, 20)  # rows of process 0 and process 1
BATCHES = (5, 7)  # their add_batch sizes
CASES = [(seed, classes) for seed in range(4) for classes in (2, 3)]
TIMEOUT = 240  # seconds for both processes to start, import and finish every case


def worker(rank: int, cache_dir: str, modules_dir: str, cases: list, results) -> None:
    """Load the module as process ``rank`` of 2 for each case, add this rank's shard, compute, report back."""
    import os

    os.environ["HF_MODULES_CACHE"] = modules_dir  # before evaluate is imported: a fresh, private module copy
    try:
        from surgical_skill.evaluation import load_skill_metrics

        out = []
        for experiment_id, predictions, references in cases:
            metric = load_skill_metrics(
                num_process=2, process_id=rank, experiment_id=experiment_id, cache_dir=cache_dir
            )
            step = BATCHES[rank]
            for start in range(0, len(references), step):
                metric.add_batch(
                    predictions=predictions[start : start + step], references=references[start : start + step]
                )
            out.append(metric.compute())
        results.put((rank, out))
    except BaseException:
        results.put((rank, traceback.format_exc()))


def imbalanced_fixture(seed: int, classes: int):
    """57 rows, 70 % of them class 0, every class present; softmax probabilities that lean to the truth."""
    rng = np.random.default_rng(seed)
    n = sum(ROWS)
    weights = np.array([0.7] + [0.3 / (classes - 1)] * (classes - 1))
    labels = np.concatenate([np.arange(classes), rng.choice(classes, n - classes, p=weights)])
    rng.shuffle(labels)
    logits = rng.normal(size=(n, classes)) + rng.uniform(0.5, 2.0) * np.eye(classes)[labels]
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return labels, probabilities


def scikit_learn(labels, probabilities) -> dict[str, float]:
    classes = probabilities.shape[1]
    predicted = probabilities.argmax(1)
    every = list(range(classes))
    auc = (
        skm.roc_auc_score(labels, probabilities[:, 1])
        if classes == 2
        else skm.roc_auc_score(labels, probabilities, multi_class="ovr", average="macro", labels=every)
    )
    return {
        "accuracy": skm.accuracy_score(labels, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(labels, predicted),
        "f1_macro": skm.f1_score(labels, predicted, average="macro", labels=every, zero_division=0),
        "roc_auc": auc,
        "log_loss": skm.log_loss(labels, probabilities, labels=every),
        "mcc": skm.matthews_corrcoef(labels, predicted),
        "cohen_kappa": skm.cohen_kappa_score(labels, predicted),
    }


def test_two_processes_accumulate_uneven_shards_into_the_full_result(tmp_path):
    run = uuid.uuid4().hex
    shards: tuple[list, list] = ([], [])
    expected = []
    for seed, classes in CASES:
        labels, probabilities = imbalanced_fixture(seed, classes)
        order = np.random.default_rng(100 + seed).permutation(len(labels))  # which rows each process holds
        parts = np.split(order, [ROWS[0]])
        for rank, rows in enumerate(parts):
            shards[rank].append((f"{run}-{seed}-{classes}", probabilities[rows].tolist(), labels[rows].tolist()))
        expected.append(scikit_learn(labels, probabilities))

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    args = (str(tmp_path / "cache"), str(tmp_path / "modules"))
    processes = [context.Process(target=worker, args=(rank, *args, shards[rank], results)) for rank in (0, 1)]
    for process in processes:
        process.start()
    try:
        received = dict(results.get(timeout=TIMEOUT) for _ in processes)
    except queue.Empty:
        pytest.fail(f"the two metric processes did not finish within {TIMEOUT} s")
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
    for rank in (0, 1):
        assert not isinstance(received[rank], str), f"process {rank} failed:\n{received[rank]}"

    assert received[1] == [None] * len(CASES)  # only process 0 computes
    for (seed, classes), ours, theirs in zip(CASES, received[0], expected):
        for name, value in theirs.items():
            assert ours[name] == pytest.approx(value, rel=1e-9, abs=1e-12), (seed, classes, name)

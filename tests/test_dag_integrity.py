"""Every DAG imports cleanly and declares what operators and the UI rely on."""

from __future__ import annotations

EXPECTED = {"events_load"}


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_expected_dags_present(dagbag):
    assert EXPECTED <= set(dagbag.dag_ids)


def test_dags_declare_tags_retries_catchup_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        assert "catchup" in dag.__dict__ or hasattr(dag, "catchup"), dag_id
        assert dag.catchup in (True, False)
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"

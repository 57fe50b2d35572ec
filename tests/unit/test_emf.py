"""EMF documents as CloudWatch's specification reads them; the limits split, never drop."""

from __future__ import annotations

from chalicelib.runtime.emf import MAX_METRICS, MAX_VALUES, emf_documents


def test_one_document_names_units_dimension_and_values() -> None:
    [document] = list(emf_documents("rtdcs", "rtdcs-prod", {
        "Events": ("Count", [1]), "EventLatency": ("Milliseconds", [12.5, 3])}, 1_700_000_000_000))
    assert document == {
        "_aws": {"Timestamp": 1_700_000_000_000, "CloudWatchMetrics": [{
            "Namespace": "rtdcs", "Dimensions": [["service"]],
            "Metrics": [{"Name": "Events", "Unit": "Count"},
                        {"Name": "EventLatency", "Unit": "Milliseconds"}]}]},
        "service": "rtdcs-prod", "Events": [1.0], "EventLatency": [12.5, 3.0]}


def test_no_metrics_no_document() -> None:
    assert list(emf_documents("rtdcs", "s", {}, 0)) == []


def test_limits_split_documents_and_keep_every_value() -> None:
    metrics = {f"M{i}": ("Count", [1.0]) for i in range(MAX_METRICS + 5)}
    metrics["Many"] = ("Count", [float(v) for v in range(2 * MAX_VALUES + 1)])
    documents = list(emf_documents("rtdcs", "s", metrics, 0))
    for document in documents:
        names = [m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
        assert len(names) <= MAX_METRICS and len(names) == len(set(names))
        assert all(len(document[name]) <= MAX_VALUES for name in names)
    seen = [v for d in documents for v in d.get("Many", [])]
    assert seen == [float(v) for v in range(2 * MAX_VALUES + 1)]
    assert sum(1 for d in documents for i in range(MAX_METRICS + 5) if f"M{i}" in d) == \
        MAX_METRICS + 5

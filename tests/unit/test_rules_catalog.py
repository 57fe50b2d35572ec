"""compile_catalog and the CompiledCatalog interface the pipeline uses."""

from __future__ import annotations

from typing import Any

from chalicelib.rules.catalog import EMPTY_CATALOG, compile_catalog

NOW = 1_800_000_000.0


def _trait(sid: int, rule: str | None = None, ds: int = 1, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"sid": sid, "dataSourceId": ds, **extra}
    if rule is None:
        obj.setdefault("traitType", "ON_BOARDED_TRAIT")
    else:
        obj.update(traitType="RULE_BASED_TRAIT", traitRule=rule)
    return obj


def test_objects_that_do_not_compile_are_left_out_and_named() -> None:
    catalog = compile_catalog({
        "trait": [
            _trait(1, 'c_a == "x"'),
            _trait(2, 'c_a = "x"'),
            _trait(3, 'c_a == "x"', ttl=-1),
            _trait(4, 'c_a == "x"', ttl=3651),
            _trait(5, None, traitType="ALGO_TRAIT"),
            _trait(6, 'c_a == "x"', ttl=3650),
        ],
        "segment": [{"sid": 10, "segmentRule": "1T AND"}, {"sid": 11, "segmentRule": "1T"}],
    }, 3)
    assert set(catalog.traits) == {1, 6}
    assert [s.sid for s in catalog.segments] == [11]
    named = " ".join(catalog.problems)
    for sid in ("trait 2", "trait 3", "trait 4", "trait 5", "segment 10"):
        assert sid in named
    assert catalog.version == 3


def test_hand_edited_segments_are_kept_and_named() -> None:
    catalog = compile_catalog({
        "trait": [_trait(1, 'c_a == "x"')],
        "segment": [{"sid": 10, "segmentRule": "NOT 1T"},
                    {"sid": 11, "segmentRule": "1T AND 77T"},
                    {"sid": 12, "segmentRule": "1T OR 77T"}],
    }, 1)
    assert "segment 10: true with no realizations" in " ".join(catalog.problems)
    assert "segment 11: unknown trait 77T" in " ".join(catalog.problems)
    # A rule true for a visitor with nothing live is evaluated for everyone.
    assert catalog.evaluate_segments({}, NOW) == {10}
    assert catalog.evaluate_segments({1: [NOW]}, NOW) == {12}


def test_paused_segments_are_not_evaluated_and_listed() -> None:
    catalog = compile_catalog({
        "trait": [_trait(1, 'c_a == "x"')],
        "segment": [{"sid": 10, "segmentRule": "1T", "status": "paused"},
                    {"sid": 11, "segmentRule": "1T"}],
    }, 1)
    assert catalog.paused_segment_ids == {10}
    assert catalog.evaluate_segments({1: [NOW]}, NOW) == {11}


def test_data_source_restriction() -> None:
    catalog = compile_catalog({"trait": [
        _trait(1, 'c_a == "x"', ds=1), _trait(2, 'c_a == "x"', ds=2),
        _trait(3, 'NOT c_b == "y"', ds=2), _trait(4, 'c_a contains "x" AND c_a != "q"', ds=1),
    ]}, 1)
    signals = {"c_a": ["x"]}
    assert catalog.realize_rule_traits(signals).sids == {1, 2, 3, 4}
    assert catalog.realize_rule_traits(signals, 1).sids == {1, 4}
    assert catalog.realize_rule_traits(signals, 2).sids == {2, 3}
    assert catalog.realize_rule_traits(signals, 9).sids == frozenset()
    assert catalog.realize_rule_traits(signals, False).sids == frozenset()


def test_true_on_empty_rules_are_evaluated_for_every_request() -> None:
    catalog = compile_catalog({"trait": [
        _trait(1, 'NOT c_x == "1"'), _trait(2, 'c_a == 1 OR NOT c_b == 2'),
        _trait(3, 'NOT (c_a == 1 OR c_b == 2)'), _trait(4, 'c_a == 1 AND NOT c_b == 2'),
    ]}, 1)
    assert set(catalog.trait_index.always) == {1, 2, 3}
    assert catalog.realize_rule_traits({}).sids == {1, 2, 3}
    assert catalog.realize_rule_traits({"c_other": ["1"]}).sids == {1, 2, 3}
    assert catalog.realize_rule_traits({"c_x": ["1"], "c_b": ["2"]}).sids == set()
    assert catalog.realize_rule_traits({"c_a": ["1"]}).sids == {1, 2, 4}


def test_an_event_evaluates_only_the_traits_its_keys_can_satisfy() -> None:
    catalog = compile_catalog({"trait": [
        _trait(1, 'c_a == "x" AND c_b contains "long"'),
        _trait(2, 'c_b contains "long"'),
        _trait(3, "c_n > 5"),
        # c_a has ten values in the catalog, so one of them is the more selective condition
        *(_trait(100 + i, f'c_a == "v{i}" AND c_b == "w"') for i in range(9)),
    ]}, 1)
    index = catalog.trait_index
    event = {"c_b": ["a longer text"]}
    realized, check = index.candidates(event, index.true_atoms(event))
    assert 1 not in check  # its cheapest condition (c_a == "x") is not met
    assert check == {2}
    event = {"c_a": ["x"], "c_n": ["7"]}
    realized, check = index.candidates(event, index.true_atoms(event))
    assert realized == {3} and check == {1}


def test_relational_atoms_that_trigger_nothing_are_true_but_not_visited() -> None:
    # c_n thresholds 0..49: only 10 and 40 trigger a trait; the others are conditions of
    # ANDs triggered by their (more selective) c_k literal, evaluated on the full true set.
    catalog = compile_catalog({"trait": [
        _trait(1, "c_n > 10"), _trait(2, "c_n <= 40"),
        *(_trait(100 + i, f'c_k == "a{i}" AND c_n >= {i}') for i in range(50)),
    ]}, 1)
    index = catalog.trait_index
    for value in ["-1", "5", "10", "10.5", "40", "41", "99"]:
        event = {"c_n": [value], "c_k": ["a7", "a30"]}
        true, fired = index._fire(event)
        assert true == index.true_atoms(event)
        visited = {atom for group in fired for atom in group}
        assert visited <= true and len(visited) <= 4  # c_k's two atoms, at most 10 and 40
        assert index.candidates(event, true, fired) == index.candidates(event, true)
        number = float(value)
        expected = {100 + i for i in (7, 30) if number >= i}
        expected |= {1} if number > 10 else set()
        expected |= {2} if number <= 40 else set()
        assert catalog.realize_rule_traits(event).sids == expected


def test_onboarded_traits_are_mapped_by_provider_segment() -> None:
    catalog = compile_catalog({"trait": [
        _trait(2001, None, ds=900, providerSegmentId="auto"), _trait(1, 'c_a == "x"'),
    ]}, 1)
    assert catalog.onboarded_by_segment == {(900, "auto"): 2001}
    assert [t.sid for t in catalog.rule_traits] == [1]
    assert catalog.traits[2001].ttl_days == 120


def test_empty_catalog() -> None:
    assert EMPTY_CATALOG.realize_rule_traits({"c_a": ["x"]}).sids == frozenset()
    assert EMPTY_CATALOG.evaluate_segments({1: [NOW]}, NOW) == set()


def test_traits_reading_the_same_keys_share_one_key_set_and_key_strings() -> None:
    """Memory at 100,000 traits (bench/rules.py): equal key sets and keys are stored once."""
    rules = ['c_section == "a" AND c_tier == "1"', 'c_tier == "2" OR c_section == "b"']
    catalog = compile_catalog({"trait": [
        {"sid": 9000 + i, "traitType": "RULE_BASED_TRAIT", "dataSourceId": 1, "traitRule": rule}
        for i, rule in enumerate(rules)]}, 1)
    first, second = catalog.traits[9000], catalog.traits[9001]
    assert first.keys == second.keys == frozenset({"c_section", "c_tier"})
    assert first.keys is second.keys
    key_a = next(iter(first.rule.operands)).key  # type: ignore[union-attr]
    key_b = next(iter(second.rule.operands)).key  # type: ignore[union-attr]
    assert {key_a, key_b} <= {"c_section", "c_tier"}
    same = [p for p in (*first.rule.operands, *second.rule.operands)  # type: ignore[union-attr]
            if p.key == "c_tier"]
    assert same[0].key is same[1].key
    assert all(p.folded is p.literal for p in same)  # already folded: no second string

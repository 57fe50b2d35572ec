"""Merge rules (identity.md 3) as pure code: the union of realizations, the default rule,
which profiles a plan reads (none unless a rule needs them), the device graph's bound and
order, and the auth states the ID map records on links (identity.md 2)."""

from __future__ import annotations

from chalicelib.dcs.declared_ids import DataSources, parse_declared_ids
from chalicelib.identity.merge import plan
from chalicelib.identity.values import DeclaredId
from chalicelib.rules.catalog import compile_catalog
from chalicelib.rules.merge_rules import DEVICE_ONLY, merge_setup, union
from chalicelib.store.idmap import LinkRecord, _record
from chalicelib.store.profiles import Profile

CRM = 77


def _rule(rule_id: int, auth: str, device: str, default: bool = False) -> dict[str, object]:
    return {"mergeRuleId": rule_id, "name": "r", "authenticatedProfile": auth,
            "deviceProfile": device, "crossDeviceDataSources": [CRM], "default": default}


def test_union_adds_devices_and_counts_a_shared_realization_once() -> None:
    device_a = {1: [100.0, 200.0]}
    authenticated = {1: [200.0], 2: [50.0]}  # 200 is A's authenticated realization: same event
    device_b = {1: [300.0, 300.0]}  # two realizations in the same second on B
    merged = union([device_a, authenticated, device_b])
    assert merged == {1: [100.0, 200.0, 300.0, 300.0], 2: [50.0]}
    assert union([device_a]) == device_a and union([device_a])[1] is not device_a[1]


def test_default_rule_and_segment_grouping() -> None:
    setup, problems = merge_setup([_rule(1, "current", "current"),
                                   _rule(2, "last", "deviceGraph", default=True),
                                   {"mergeRuleId": 3, "authenticatedProfile": "bogus"}])
    assert setup.default.rule_id == 2 and set(setup.rules) == {1, 2}
    assert setup.auth_sources == {CRM} and problems and "mergerule 3" in problems[0]
    assert merge_setup([])[0].default is DEVICE_ONLY
    catalog = compile_catalog({
        "trait": [{"sid": 11, "name": "t", "traitType": "RULE_BASED_TRAIT", "dataSourceId": 1,
                   "traitRule": 'c_a == "1"'}],
        "segment": [{"sid": 51, "name": "a", "segmentRule": "11T"},
                    {"sid": 52, "name": "b", "segmentRule": "11T", "mergeRuleId": 1},
                    {"sid": 53, "name": "c", "segmentRule": "11T", "mergeRuleId": 2},
                    {"sid": 54, "name": "d", "segmentRule": "11T", "mergeRuleId": 99}],
        "mergerule": [_rule(1, "current", "current"), _rule(2, "last", "current", True)],
    }, 1)
    assert [r.rule_id for r in catalog.merge_rules_in_use()] == [2, 1]
    # segments of the default (named, unnamed or unknown rule) evaluate over its view
    assert catalog.evaluate_by_rule({2: {11: [1.0]}}, 2.0) == {51, 53, 54}
    assert catalog.evaluate_by_rule({1: {11: [1.0]}}, 2.0) == {52}


def test_a_plan_reads_nothing_unless_a_rule_needs_another_profile() -> None:
    setup, _ = merge_setup([_rule(1, "current", "current"), _rule(2, "last", "current"),
                            _rule(3, "none", "deviceGraph")])
    rules = list(setup.rules.values())
    device = Profile("1" * 38)
    assert plan(setup, rules, [], {}, device, device.uuid).keys == []  # nothing to use
    logged_out = [DeclaredId(CRM, "u", 2)]
    assert plan(setup, rules, logged_out, {}, device, device.uuid).keys == []
    logged_in = plan(setup, rules, [DeclaredId(CRM, "u", 1)], {}, device, device.uuid)
    assert logged_in.keys == [f"a#{CRM}#u"] and logged_in.write_auth == (DeclaredId(CRM, "u", 1),)
    device.auth_ids = {CRM: "u"}  # authenticated before: ``last`` reads it
    later = plan(setup, rules, [], {}, device, device.uuid)
    assert later.keys == [f"a#{CRM}#u"]
    by_rule = {r.rule.rule_id: r for r in later.rules}
    assert by_rule[1].auth_key is None and by_rule[2].auth_key == f"a#{CRM}#u"


def test_device_graph_is_the_ten_most_recent_other_devices() -> None:
    setup, _ = merge_setup([_rule(3, "none", "deviceGraph")])
    me = "9" * 38
    uuids = {str(n).zfill(38): n for n in range(1, 16)}
    links = {(CRM, "u"): LinkRecord(uuids={**uuids, me: 99})}
    result = plan(setup, list(setup.rules.values()), [DeclaredId(CRM, "u", 0)], links,
                  Profile(me), me)
    graph = result.rules[0].graph
    assert graph == tuple(str(n).zfill(38) for n in range(15, 5, -1))  # newest first, 10
    assert result.graph_id == f"{CRM}#u" and result.graph == graph
    device = Profile(me)
    device.graph_id, device.graph = f"{CRM}#u", graph  # kept: used without a declaration
    assert plan(setup, list(setup.rules.values()), [], {}, device, me).rules[0].graph == graph


def test_links_record_auth_states() -> None:
    sources = DataSources([{"dataSourceId": CRM, "idType": "CROSS_DEVICE",
                            "integrationCode": "crm"}])
    parsed = parse_declared_ids([f"{CRM}\x01a\x011", f"{CRM}\x01b\x012"],
                                ["crm\x01d\x017"], (None, None), sources)
    assert [d.auth_state for d in parsed.accepted] == [1, 2, 0]  # 7 is not a state: unknown
    assert parse_declared_ids([f"{CRM}\x01c"], [], (None, None), sources).accepted[0] == \
        DeclaredId(CRM, "c", 0)
    record = _record({"pk": "d#77#a", "u" + "1" * 38: 1000, "a" + "1" * 38: 1,
                      "u" + "2" * 38: 2000, "a" + "2" * 38: 2, "expires_at": 10**10}, 0.0)
    assert record.auth == {"1" * 38: 1, "2" * 38: 2}
    assert record.most_recent() == "2" * 38 and record.newest(1) == ["2" * 38]

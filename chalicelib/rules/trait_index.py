"""Indexed evaluation of rule-based traits: an event evaluates only the traits it can realize.

Every distinct predicate of the catalog is an *atom*. Atoms whose truth an index settles from
the event's values alone are *exact*: ``==`` (text: a dict of folded literals; number: a dict
of Decimals), relational operators (sorted thresholds + bisect), ``matcheswords`` (a dict of
words), ``startswith``/``endswith`` (a dict of folded prefixes/suffixes per literal length).
The other atoms (``!=``, ``contains``, ``matchesregex``) are *lazy*: evaluated on demand, once
per event.

Each rule gets a *trigger set*: tokens such that the rule can only be true when one of them fires
(an exact atom is true, a key is present, a 3-character piece of a ``contains`` literal occurs in
a value). ``OR`` unions its operands' sets, ``AND`` keeps its cheapest operand's set, and ``NOT``
swaps the two (De Morgan). A rule that can be true with nothing firing has no trigger set: that
is exactly a rule true on an empty signal map (``NOT c_x == "1"``), and it is evaluated for every
request. Rules that are one exact atom or an ``OR`` of exact atoms are realized straight from
the index; an ``AND`` of exact atoms is a subset test; anything else runs a compiled closure.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Sequence, Union

from chalicelib.rules.safe_regex import RegexBudget, RegexBudgetExceeded
from chalicelib.rules.trait_rules import (
    REL_OPS,
    And,
    Node,
    Not,
    Or,
    Predicate,
    as_decimal,
    evaluate,
    predicates,
    uses_regex,
    value_words,
)

EXACT_OPS = frozenset({"==", "<", "<=", ">", ">=", "matcheswords", "startswith", "endswith"})
GRAM = 3  # contains-literals of at least 3 folded characters are indexed by one 3-gram

# Trigger tokens: ("a", atom id), ("k", key), ("g", key, gram). AND keeps the operand whose
# tokens fire least often, estimated from the catalog itself: an exact "==" atom fires about
# once in (distinct "==" literals on its key) events, a relational one about half the time, a
# key token whenever the key is present.
Token = tuple
_P_KEY, _P_GRAM, _P_REL = 1.0, 0.2, 0.5

Evaluator = Callable[[set, "_Event"], bool]
Form = Union[tuple, Evaluator]  # a tuple: every one of these exact atoms must be true


# One relational operator of one key: (op, thresholds, atoms) sorted by threshold, then the
# same for only the atoms some trait is indexed under (``by_atom``): a numeric value makes
# hundreds of relational atoms true, of which a handful trigger anything (bench/rules.py at
# 100,000 traits: ~490 true, ~7 triggering), so ``candidates`` visits those alone.
RelList = tuple[str, tuple[Decimal, ...], tuple[int, ...], tuple[Decimal, ...], tuple[int, ...]]


class _KeyIndex:
    """Exact atoms of one signal key (not a dataclass: import cost on a cold
    start, chalicelib/core/records.py)."""

    __slots__ = ("eq_text", "eq_num", "rel", "words", "prefix", "prefix_lens", "suffix",
                 "suffix_lens")

    def __init__(
        self,
        eq_text: dict[str, tuple[int, ...]],
        eq_num: dict[Decimal, tuple[int, ...]],
        rel: list[RelList],
        words: dict[str, tuple[int, ...]],
        prefix: dict[str, tuple[int, ...]],
        prefix_lens: tuple[int, ...],
        suffix: dict[str, tuple[int, ...]],
        suffix_lens: tuple[int, ...],
    ) -> None:
        self.eq_text = eq_text
        self.eq_num = eq_num
        self.rel = rel
        self.words = words
        self.prefix = prefix
        self.prefix_lens = prefix_lens
        self.suffix = suffix
        self.suffix_lens = suffix_lens


class _Event:
    """Per-request state: folded values, lazy atom results, the regex budget."""

    __slots__ = ("signals", "atoms", "budget", "memo", "_folded")

    def __init__(
        self, signals: Mapping[str, Sequence[str]], atoms: list[Predicate], budget: RegexBudget
    ) -> None:
        self.signals = signals
        self.atoms = atoms
        self.budget = budget
        self.memo: dict[int, bool] = {}
        self._folded: dict[str, list[str]] = {}

    def folded(self, key: str) -> list[str]:
        values = self._folded.get(key)
        if values is None:
            values = [v.casefold() for v in self.signals.get(key) or ()]
            self._folded[key] = values
        return values

    def lazy(self, atom: int) -> bool:
        known = self.memo.get(atom)
        if known is None:
            known = self._compute(self.atoms[atom])
            self.memo[atom] = known
        return known

    def _compute(self, pred: Predicate) -> bool:
        if pred.op == "contains":
            literal = pred.folded
            return any(literal in value for value in self.folded(pred.key))
        if pred.op == "matchesregex":
            assert pred.regex is not None
            regex, budget = pred.regex, self.budget
            return any(regex.search_timed(v, budget) for v in self.signals.get(pred.key) or ())
        # "!=": true when some value differs (numerically for a numeric value and number literal)
        values = self.signals.get(pred.key) or ()
        if not pred.is_string:
            for value in values:
                number = as_decimal(value)
                if number is not None:
                    if number != pred.numeric:
                        return True
                elif value.casefold() != pred.folded:
                    return True
            return False
        return any(value != pred.folded for value in self.folded(pred.key))


def _triggers(node: Node, positive: bool, leaf: Callable[[Predicate], list[Token]],
              cost: Callable[[Token], float]) -> list[Token] | None:
    """Tokens one of which fires whenever ``node`` is ``positive``; None: none is needed."""
    if isinstance(node, Predicate):
        return leaf(node) if positive else None  # a predicate is false when its key is absent
    if isinstance(node, Not):
        return _triggers(node.operand, not positive, leaf, cost)
    parts = [_triggers(op, positive, leaf, cost) for op in node.operands]
    conjunction = isinstance(node, And) == positive
    if conjunction:  # every operand must hold: the least often firing operand's tokens suffice
        known = [p for p in parts if p is not None]
        if not known:
            return None
        return min(known, key=lambda tokens: sum(cost(t) for t in tokens))
    if any(p is None for p in parts):
        return None
    merged: dict[Token, None] = {}
    for part in parts:
        merged.update(dict.fromkeys(part))  # type: ignore[arg-type]
    return list(merged)


def _grams(text: str) -> set[str]:
    return {text[i:i + GRAM] for i in range(len(text) - GRAM + 1)}


def _direct_atoms(node: Node, atom_of: Callable[[Predicate], int]) -> list[int] | None:
    """The atoms of a rule that is one exact atom or an OR of them (true iff one is true)."""
    if isinstance(node, Predicate):
        return [atom_of(node)] if node.op in EXACT_OPS else None
    if isinstance(node, Or):
        found: list[int] = []
        for operand in node.operands:
            inner = _direct_atoms(operand, atom_of)
            if inner is None:
                return None
            found.extend(inner)
        return found
    return None


def _rank(node: Node) -> int:
    """Evaluation order inside AND/OR: exact atoms first, regexes last (any order is allowed)."""
    if isinstance(node, Predicate):
        return 0 if node.op in EXACT_OPS else (2 if node.op == "matchesregex" else 1)
    if isinstance(node, Not):
        return _rank(node.operand)
    return max((_rank(op) for op in node.operands), default=0) + 1


def _compile(node: Node, atom_of: Callable[[Predicate], int],
             leaves: dict[int, Evaluator]) -> Evaluator:
    if isinstance(node, Predicate):
        atom = atom_of(node)
        leaf = leaves.get(atom)  # one evaluator per atom, shared by every rule using it
        if leaf is None:
            if node.op in EXACT_OPS:
                leaf = leaves[atom] = lambda t, e: atom in t
            else:
                leaf = leaves[atom] = lambda t, e: e.lazy(atom)
        return leaf
    if isinstance(node, Not):
        inner = _compile(node.operand, atom_of, leaves)
        return lambda t, e: not inner(t, e)
    parts = tuple(_compile(op, atom_of, leaves) for op in sorted(node.operands, key=_rank))
    if isinstance(node, And):
        if len(parts) == 2:
            first, second = parts
            return lambda t, e: first(t, e) and second(t, e)

        def all_of(t: set, e: _Event) -> bool:
            for part in parts:
                if not part(t, e):
                    return False
            return True

        return all_of
    if len(parts) == 2:
        first, second = parts
        return lambda t, e: first(t, e) or second(t, e)

    def any_of(t: set, e: _Event) -> bool:
        for part in parts:
            if part(t, e):
                return True
        return False

    return any_of


def _frozen(index: dict[Any, list[int]]) -> dict[Any, tuple[int, ...]]:
    return {key: tuple(values) for key, values in index.items()}


def _append(index: dict, key: object, value: int) -> None:
    bucket = index.get(key)
    if bucket is None:
        index[key] = [value]
    else:
        bucket.append(value)


class TraitIndex:
    """The rule-based traits of one catalog version, indexed for per-event evaluation."""

    def __init__(self, rules: Iterable[tuple[int, int, Node]]) -> None:
        """``rules``: (sid, dataSourceId, rule) of each rule-based trait."""
        self.atoms: list[Predicate] = []
        self._atom_ids: dict[Predicate, int] = {}
        self._leaves: dict[int, Evaluator] = {}
        self.data_source: dict[int, int] = {}
        self.forms: dict[int, Form] = {}
        self.regex_sids: set[int] = set()
        rules = list(rules)
        atom_of = self._atom_of
        for _, _, rule in rules:  # first pass: every atom, for the selectivity estimates
            for pred in predicates(rule):
                atom_of(pred)
        self._gram_counts: dict[tuple[str, str], int] = {}
        for pred in list(self.atoms):
            for text in self._gram_sources(pred):
                for gram in _grams(text):
                    key = (pred.key, gram)
                    self._gram_counts[key] = self._gram_counts.get(key, 0) + 1
            if pred.regex is not None and pred.regex.prefix:
                atom_of(self._prefix_atom(pred))
        self._distinct = self._distinct_literals()
        direct_by_atom: dict[int, list[int]] = {}
        check_by_atom: dict[int, list[int]] = {}
        check_by_key: dict[str, list[int]] = {}
        check_by_gram: dict[str, dict[str, list[int]]] = {}
        always: list[int] = []
        for sid, data_source, rule in rules:
            self.data_source[sid] = data_source
            direct = _direct_atoms(rule, atom_of)
            if direct is not None:
                for atom in dict.fromkeys(direct):
                    _append(direct_by_atom, atom, sid)
                continue
            tokens = _triggers(rule, True, self._leaf_tokens, self._token_cost)
            if uses_regex(rule):
                self.regex_sids.add(sid)
            self.forms[sid] = self._form(rule)
            if tokens is None or evaluate(rule, {}):
                always.append(sid)
                continue
            for token in tokens:
                if token[0] == "a":
                    _append(check_by_atom, token[1], sid)
                elif token[0] == "k":
                    _append(check_by_key, token[1], sid)
                else:
                    _append(check_by_gram.setdefault(token[1], {}), token[2], sid)
        # atom -> (traits it realizes on its own, traits to evaluate when it is true)
        self.by_atom: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {
            atom: (tuple(direct_by_atom.get(atom, ())), tuple(check_by_atom.get(atom, ())))
            for atom in direct_by_atom.keys() | check_by_atom.keys()
        }
        self.check_by_key = {k: tuple(s) for k, s in check_by_key.items()}
        self.check_by_gram = {k: {g: tuple(s) for g, s in grams.items()}
                              for k, grams in check_by_gram.items()}
        self.always = tuple(always)
        self.keys = self._build_key_indexes()
        # only needed while building
        del self._atom_ids, self._distinct, self._gram_counts, self._leaves

    @staticmethod
    def _gram_sources(pred: Predicate) -> list[str]:
        """Folded text a value must contain for the predicate to hold (contains, regexes)."""
        if pred.op == "contains":
            return [pred.folded]
        if pred.regex is not None and not pred.regex.prefix:
            return [run.casefold() for run in pred.regex.literals]
        return []

    @staticmethod
    def _prefix_atom(pred: Predicate) -> Predicate:
        """A regex anchored on a literal prefix is indexed as ``startswith`` that prefix."""
        assert pred.regex is not None
        prefix = pred.regex.prefix
        return Predicate(pred.key, "startswith", prefix, None, True, prefix.casefold())

    def _leaf_tokens(self, pred: Predicate) -> list[Token]:
        """The trigger of one (positive) predicate."""
        if pred.op in EXACT_OPS:
            return [("a", self._atom_of(pred))]
        if pred.regex is not None and pred.regex.prefix:
            return [("a", self._atom_of(self._prefix_atom(pred)))]
        grams = [(self._gram_counts[(pred.key, gram)], gram)
                 for text in self._gram_sources(pred) for gram in _grams(text)]
        if grams:
            return [("g", pred.key, min(grams)[1])]  # the rarest piece in the catalog
        return [("k", pred.key)]

    def _distinct_literals(self) -> dict[tuple[str, str], int]:
        """(key, kind) -> how many distinct exact literals of that kind the key has."""
        seen: dict[tuple[str, str], set[object]] = {}
        for pred in self.atoms:
            if pred.op in EXACT_OPS:
                kind = "==" if pred.op == "==" else pred.op
                literal = pred.numeric if pred.op == "==" and not pred.is_string else pred.folded
                seen.setdefault((pred.key, kind), set()).add(literal)
        return {group: len(literals) for group, literals in seen.items()}

    def _token_cost(self, token: Token) -> float:
        """How often a token fires, roughly, as a fraction of the events that carry its key."""
        if token[0] == "k":
            return _P_KEY
        if token[0] == "g":
            return _P_GRAM
        pred = self.atoms[token[1]]
        if pred.op in REL_OPS:
            return _P_REL
        return 1.0 / self._distinct.get((pred.key, pred.op), 1)

    def _atom_of(self, pred: Predicate) -> int:
        atom = self._atom_ids.get(pred)
        if atom is None:
            atom = len(self.atoms)
            self.atoms.append(pred)
            self._atom_ids[pred] = atom
        return atom

    def _form(self, rule: Node) -> Form:
        if isinstance(rule, And) and all(
            isinstance(op, Predicate) and op.op in EXACT_OPS for op in rule.operands
        ):
            # A tuple, not a frozenset: a third of the memory, and set.issuperset takes it.
            return tuple(sorted({self._atom_of(op) for op in rule.operands}))  # type: ignore[arg-type]
        return _compile(rule, self._atom_of, self._leaves)

    def _build_key_indexes(self) -> dict[str, _KeyIndex]:
        by_key: dict[str, list[tuple[int, Predicate]]] = {}
        for atom, pred in enumerate(self.atoms):
            if pred.op in EXACT_OPS:
                by_key.setdefault(pred.key, []).append((atom, pred))
        indexes: dict[str, _KeyIndex] = {}
        for key, entries in by_key.items():
            eq_text: dict[str, list[int]] = {}
            eq_num: dict[Decimal, list[int]] = {}
            rel: dict[str, list[tuple[Decimal, int]]] = {}
            words: dict[str, list[int]] = {}
            prefix: dict[str, list[int]] = {}
            suffix: dict[str, list[int]] = {}
            for atom, pred in entries:
                if pred.op == "==":
                    if pred.is_string:
                        _append(eq_text, pred.folded, atom)
                    else:  # a number literal: a non-numeric value never equals it as text
                        _append(eq_num, pred.numeric, atom)
                elif pred.op == "matcheswords":
                    for word in pred.words:
                        _append(words, word, atom)
                elif pred.op == "startswith":
                    _append(prefix, pred.folded, atom)
                elif pred.op == "endswith":
                    _append(suffix, pred.folded, atom)
                else:
                    rel.setdefault(pred.op, []).append((pred.numeric, atom))  # type: ignore[arg-type]
            rel_lists = []
            for op, pairs in rel.items():
                pairs.sort(key=lambda pair: pair[0])
                hits = [p for p in pairs if p[1] in self.by_atom]
                rel_lists.append((op, tuple(p[0] for p in pairs), tuple(p[1] for p in pairs),
                                  tuple(p[0] for p in hits), tuple(p[1] for p in hits)))
            # Tuples, not lists, once built: a one-atom list costs twice a one-atom tuple, and
            # a 100,000-trait catalog holds hundreds of thousands of them (bench/rules.py).
            indexes[key] = _KeyIndex(
                eq_text=_frozen(eq_text), eq_num=_frozen(eq_num), rel=rel_lists,
                words=_frozen(words), prefix=_frozen(prefix),
                prefix_lens=tuple(sorted({len(p) for p in prefix})),
                suffix=_frozen(suffix), suffix_lens=tuple(sorted({len(s) for s in suffix})),
            )
        return indexes

    # -- per event ------------------------------------------------------------------------
    def true_atoms(self, signals: Mapping[str, Sequence[str]]) -> set[int]:
        """Every exact atom the signals make true (exact atoms not in it are false)."""
        return self._fire(signals)[0]

    def _fire(self, signals: Mapping[str, Sequence[str]]) -> tuple[set[int], list[Sequence[int]]]:
        """(every exact atom the signals make true, groups of those that may be in
        ``by_atom``: the relational ones only where a trait is indexed under them)."""
        true: set[int] = set()
        fired: list[Sequence[int]] = []
        keys = self.keys
        for key, values in signals.items():
            index = keys.get(key)
            if index is None or not values:
                continue
            numeric = bool(index.eq_num or index.rel)
            for value in values:
                folded = value.casefold()
                found = index.eq_text.get(folded)
                if found:
                    true.update(found)
                    fired.append(found)
                if numeric:
                    number = as_decimal(value)
                    if number is not None:
                        found = index.eq_num.get(number)
                        if found:
                            true.update(found)
                            fired.append(found)
                        for op, thresholds, atoms, hit_thresholds, hit_atoms in index.rel:
                            if op == "<":  # value < t
                                true.update(atoms[bisect_right(thresholds, number):])
                                fired.append(hit_atoms[bisect_right(hit_thresholds, number):])
                            elif op == "<=":
                                true.update(atoms[bisect_left(thresholds, number):])
                                fired.append(hit_atoms[bisect_left(hit_thresholds, number):])
                            elif op == ">":  # value > t
                                true.update(atoms[:bisect_left(thresholds, number)])
                                fired.append(hit_atoms[:bisect_left(hit_thresholds, number)])
                            else:
                                true.update(atoms[:bisect_right(thresholds, number)])
                                fired.append(hit_atoms[:bisect_right(hit_thresholds, number)])
                if index.words:
                    for word in value_words(value):
                        found = index.words.get(word)
                        if found:
                            true.update(found)
                            fired.append(found)
                for length in index.prefix_lens:
                    if length > len(folded):
                        break
                    found = index.prefix.get(folded[:length])
                    if found:
                        true.update(found)
                        fired.append(found)
                for length in index.suffix_lens:
                    if length > len(folded):
                        break
                    found = index.suffix.get(folded[-length:])
                    if found:
                        true.update(found)
                        fired.append(found)
        return true, fired

    def candidates(
        self, signals: Mapping[str, Sequence[str]], true: set[int],
        fired: Sequence[Sequence[int]] | None = None,
    ) -> tuple[set[int], set[int]]:
        """(traits realized straight from the index, traits to evaluate). ``fired``: the
        groups of true atoms that may trigger (``_fire``); None: every atom of ``true``."""
        realized: set[int] = set()
        check: set[int] = set(self.always)
        by_atom = self.by_atom
        for group in (true,) if fired is None else fired:
            for atom in group:
                found = by_atom.get(atom)
                if found:
                    direct, evaluated = found
                    if direct:
                        realized.update(direct)
                    if evaluated:
                        check.update(evaluated)
        for key, values in signals.items():
            if not values:
                continue
            keyed = self.check_by_key.get(key)
            if keyed:
                check.update(keyed)
            grams = self.check_by_gram.get(key)
            if grams:
                for value in values:
                    _fire_grams(value.casefold(), grams, check)
        return realized, check

    def realize(
        self,
        signals: Mapping[str, Sequence[str]],
        data_source: int | None,
        budget: RegexBudget,
    ) -> tuple[set[int], bool]:
        """(realized sids, failed): failed when the regex budget ran out or a rule raised."""
        true, fired = self._fire(signals)
        realized, check = self.candidates(signals, true, fired)
        if data_source is not None:
            realized = {sid for sid in realized if self.data_source[sid] == data_source}
        event = _Event(signals, self.atoms, budget)
        failed = False
        forms, regex_sids = self.forms, self.regex_sids
        for sid in check:
            if data_source is not None and self.data_source[sid] != data_source:
                continue
            if sid in regex_sids and budget.exhausted:
                continue  # rules.md 1.4: not realized, whatever the NOTs
            form = forms[sid]
            try:
                ok = true.issuperset(form) if isinstance(form, tuple) else form(true, event)
            except RegexBudgetExceeded:
                failed = True
                continue
            except Exception:  # noqa: BLE001 - a rule failing at run time skips that trait
                failed = True
                continue
            if ok:
                realized.add(sid)
        return realized, failed or budget.exhausted


def _fire_grams(folded: str, grams: Mapping[str, Sequence[int]], check: set[int]) -> None:
    if len(grams) < len(folded):
        for gram, sids in grams.items():
            if gram in folded:
                check.update(sids)
        return
    for start in range(len(folded) - GRAM + 1):
        found = grams.get(folded[start:start + GRAM])
        if found:
            check.update(found)

"""chalicelib/runtime/env_cached.py: built once, rebuilt when its key changes, replaceable by tests."""

from __future__ import annotations

from chalicelib.runtime.env_cached import EnvCached


def test_built_once_per_key_and_rebuilt_when_the_key_changes() -> None:
    key = ["a"]
    builds: list[str] = []

    def build() -> str:
        builds.append(key[0])
        return f"value-{key[0]}"

    cached = EnvCached(build, lambda: key[0])
    assert cached.get() == cached.get() == "value-a" and builds == ["a"]
    key[0] = "b"
    assert cached.get() == "value-b" and builds == ["a", "b"]


def test_an_installed_value_wins_until_uninstalled() -> None:
    builds: list[int] = []
    cached = EnvCached(lambda: builds.append(1) or "built", lambda: "k")
    cached.install("mine")
    assert cached.get() == "mine" and builds == []
    cached.install(None)
    assert cached.get() == "built" and builds == [1]

"""One plugin loader for every entry point group, checking plugins against their Protocol.

Plugins here are real installed distributions (a ``dist-info`` with ``entry_points.txt`` on
``sys.path``), found by ``importlib.metadata`` as pip-installed ones are.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from persona_sdk import ConfigError, Container, PluginError
from persona_sdk.allocation import hash_scheme
from persona_sdk.config import SourceConfig
from persona_sdk.destinations import build_destinations
from persona_sdk.plugins import GROUPS, check_plugin, load_plugin, missing_members
from persona_sdk.profiles._registry import build_source

ROOT = Path(__file__).resolve().parents[1]

MODULE = """
    from persona_sdk.plugins import BatchConfig

    class Half:
        '''A destination without send() or close().'''
        name = "half"
        batch = BatchConfig()
        def transform(self, event):
            return event

    def half_destination(*, name, options, pii):
        return Half()

    class NoBucketer:
        name = "nobucketer"

    class NoFetch:
        name = "feed"
        interval = 1.0
        def close(self):
            pass

    def no_fetch(*, name, options):
        return NoFetch()

    class GetOnly:
        def get(self, profile_id, *, id_type="user_id", timeout):
            return None

    def get_only(*, options):
        return GetOnly()
"""

ENTRY_POINTS = """
    [persona_sdk.destinations]
    half = demo_plugins:half_destination

    [persona_sdk.hash_schemes]
    nobucketer = demo_plugins:NoBucketer

    [persona_sdk.content_sources]
    nofetch = demo_plugins:no_fetch

    [persona_sdk.profile_sources]
    getonly = demo_plugins:get_only
"""


@pytest.fixture(autouse=True)
def _installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    (tmp_path / "demo_plugins.py").write_text(textwrap.dedent(MODULE), encoding="utf-8")
    dist = tmp_path / "demo_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("demo_plugins", None)


def test_a_destination_missing_methods_is_refused_with_group_name_and_members() -> None:
    container = Container.from_dict({"destinations": {"d": {"type": "half"}}})
    with pytest.raises(ConfigError) as info:
        build_destinations(container)
    (error,) = info.value.errors
    assert error.startswith("destinations.d.type: ")
    assert "'half'" in error
    assert "'persona_sdk.destinations'" in error
    assert "not a Destination (missing send, close)" in error


def test_a_hash_scheme_without_bucketer_is_refused() -> None:
    with pytest.raises(PluginError, match=r"'nobucketer' of group 'persona_sdk\.hash_schemes'"):
        hash_scheme("nobucketer")
    with pytest.raises(PluginError, match=r"not a HashScheme \(missing bucketer\)"):
        hash_scheme("nobucketer")


def test_a_content_source_without_fetch_is_refused_at_build() -> None:
    from persona_sdk.content._feeds import build_source as build_feed

    missing = r"kind: .*'nofetch'.*not a ContentSource \(missing fetch\)"
    with pytest.raises(ConfigError, match=missing):
        build_feed("cms", SourceConfig(kind="nofetch"))


def test_a_profile_source_missing_methods_names_them() -> None:
    with pytest.raises(ConfigError, match=r"profiles\.source\.type: .*'getonly'.*aget, close"):
        build_source({"type": "getonly"})


def test_an_unknown_plugin_names_the_group_and_what_is_installed() -> None:
    with pytest.raises(PluginError, match=r"no plugin 'nope' in entry point group") as info:
        load_plugin("persona_sdk.destinations", "nope")
    assert "installed: " in str(info.value)
    assert "half" in str(info.value)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_group_checks_its_protocol_members(group: str) -> None:
    spec = GROUPS[group]
    empty = object()
    assert missing_members(group, empty) == [*spec.methods, *spec.attributes]
    with pytest.raises(PluginError) as info:
        check_plugin(group, "x", empty)
    assert f"'x' of group {group!r}" in str(info.value)
    assert f"not a {spec.protocol}" in str(info.value)


def test_every_entry_point_group_the_project_declares_is_known_to_the_loader() -> None:
    declared: set[str] = set()
    for pyproject in [ROOT / "pyproject.toml", *ROOT.glob("plugins/*/pyproject.toml")]:
        declared |= set(re.findall(r'entry-points\."(persona_sdk\.\w+)"', pyproject.read_text()))
    assert declared
    assert declared <= set(GROUPS)


def test_a_complete_plugin_passes_unchanged() -> None:
    from persona_sdk.testing import CaptureDestination

    dest: Any = CaptureDestination(name="c")
    assert check_plugin("persona_sdk.destinations", "capture", dest) is dest


def test_the_kit_example_of_the_plugin_docs_builds_requests_and_applies_the_policy() -> None:
    text = (ROOT / "docs" / "plugins.md").read_text()
    code = re.search(r"## A destination with the kit\n\n```python\n(.*?)```", text, re.S)
    assert code is not None
    namespace: dict[str, Any] = {"__name__": "docs_plugins_example"}
    # dont_inherit: the example runs as written, without this module's __future__ import
    exec(compile(code.group(1), "docs/plugins.md", "exec", dont_inherit=True), namespace)
    from persona_sdk.plugins import PiiConfig, Secret

    dest = namespace["CrmDestination"](
        name="crm",
        options={"url": "https://crm.example/events", "api_key": "k-123", "pii": "remove",
                 "pii_fields": {"traits.email": "email"}},
        pii=PiiConfig(),
    )
    assert check_plugin("persona_sdk.destinations", "crm", dest) is dest
    assert isinstance(dest.options.api_key, Secret)
    shaped = dest.transform({"type": "identify", "traits": {"email": "a@b.c", "plan": "pro"}})
    assert shaped == {"type": "identify", "traits": {"plan": "pro"}}
    (request,) = list(dest.requests([b'{"a":1}', b'{"b":2}']))
    assert request.content == b'[{"a":1},{"b":2}]'
    assert request.headers["x-api-key"] == "k-123"

import json

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from studio.settings import (DEFAULTS, SCHEMA, VERSION, EffectSettings, PresetError, load_preset, parse_preset,
                             save_preset)


def test_round_trip(tmp_path):
    s = EffectSettings(mode="replace", max_coc=24.0, coverage=(0.2, 0.6), background="/x.png")
    p = tmp_path / "p.json"
    save_preset(s, p)
    doc = json.loads(p.read_text())
    assert doc["version"] == VERSION and "sigma_color" not in doc["settings"]  # only changed values
    assert load_preset(p) == s


@pytest.mark.parametrize("field,value,msg", [
    ("max_coc", 500, "max_coc"), ("mode", "sepia", "mode"), ("coverage", [0.8, 0.2], "coverage"),
    ("refine", "yes", "refine"), ("bogus", 1, "bogus"), ("sigma_color", float("nan"), "sigma_color"),
])
def test_errors_name_the_field(field, value, msg):
    with pytest.raises(PresetError, match=msg):
        parse_preset({"format": "backdrop-preset", "version": VERSION, "settings": {field: value}})


def test_old_version_migrates():
    s = parse_preset({"format": "backdrop-preset", "version": 1,
                      "settings": {"blur_radius": 20, "threshold": 0.5, "smoothing": 0.3}})
    assert s.max_coc == 20 and s.temporal_smoothing == 0.3 and s.coverage == (0.3, 0.7)


def test_newer_version_refused():
    with pytest.raises(PresetError, match="newer"):
        parse_preset({"format": "backdrop-preset", "version": VERSION + 1, "settings": {}})


def test_broken_file_leaves_existing_preset(tmp_path):
    p = tmp_path / "p.json"
    save_preset(DEFAULTS.with_(max_coc=30.0), p)
    before = p.read_text()
    with pytest.raises(PresetError):
        load_preset(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PresetError, match="not valid JSON"):
        load_preset(bad)
    assert p.read_text() == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c, max_size=4), max_leaves=12)
field_names = st.sampled_from(list(SCHEMA) + ["threshold", "blur_radius", "x"])   # every field, new ones too


@hsettings(max_examples=300, deadline=None)
@given(st.one_of(
    json_values,
    st.fixed_dictionaries({"format": st.just("backdrop-preset"), "version": st.integers(-1, VERSION + 1),
                           "settings": st.dictionaries(field_names, json_values, max_size=5)})))
def test_random_json_gives_clean_errors(doc):
    try:
        s = parse_preset(doc)
    except PresetError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert isinstance(s, EffectSettings)


def test_constructed_settings_keep_the_normalised_values():
    """What validation normalises (lists to tuples, ints to floats) is what the object holds."""
    assert EffectSettings(coverage=[0.3, 0.7]) == EffectSettings()
    assert EffectSettings(max_coc=16) == EffectSettings() and isinstance(EffectSettings(max_coc=16).max_coc, float)


def test_a_version_without_a_migrator_is_refused(monkeypatch):
    from studio import settings

    monkeypatch.setattr(settings, "MIGRATIONS", {})
    with pytest.raises(PresetError, match="cannot be migrated"):
        parse_preset({"format": "backdrop-preset", "version": 1, "settings": {}})


@pytest.mark.parametrize("doc,msg", [
    ({"format": "backdrop-preset", "version": 2, "mode": "mask"}, "settings go inside 'settings'"),
    ({"format": "backdrop-preset", "version": 2, "Settings": {}}, "did you mean 'settings'"),
    ({"format": "backdrop-preset", "version": 2, "settings": {}, "x": 1}, "unknown top-level field"),
    ({"format": "backdrop-preset", "version": 2, "settings": {"coverage": [0.3, 0.300000001]}}, "at least 0.01"),
    ({"format": "backdrop-preset", "version": 2, "settings": {"max_coc": 10 ** 400}}, "far out of range"),
])
def test_misplaced_keys_and_degenerate_values_are_refused(doc, msg):
    with pytest.raises(PresetError, match=msg):
        parse_preset(doc)


@pytest.mark.parametrize("field", ["clean_edges", "second_look", "segment_on_change"])
@pytest.mark.parametrize("value", ["yes", 1, None, [True], {"on": True}])
def test_new_switches_refuse_non_booleans_and_keep_the_settings(tmp_path, field, value):
    p = tmp_path / "p.json"
    save_preset(DEFAULTS.with_(mode="replace"), p)
    before = p.read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "backdrop-preset", "version": VERSION, "settings": {field: value}}))
    with pytest.raises(PresetError, match=field) as e:
        load_preset(bad)
    assert "\n" not in str(e.value) and p.read_bytes() == before

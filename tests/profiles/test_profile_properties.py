"""Invariants of profiles over random teams (hypothesis)."""

from __future__ import annotations

from collections import Counter

import metrics_oracle as oracle
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import BASE_MILLIS, observation
from memsync.profiles import metrics, render

NOW = 1_774_000_000_000
# Vocabularies that cannot contain a developer name ("dev-" + 4 letters), so a name found in a
# page can only have come from a developer.
CONCEPTS = ["pattern", "gotcha", "how-it-works", "cache", "auth", "testing", "a|b", "x, y"]
PATHS = ["src/app.py", "src/db/models.py", "lib/util.py", "README.md", "docs\\guide.md", "./tools/x.sh"]
TYPES = ["decision", "bugfix", "feature", "discovery", "refactor", "change", "security_note"]


def _as_field(values: list[str], as_json: bool) -> str:
    return orjson.dumps(values).decode() if as_json else ", ".join(v for v in values if "," not in v)


@st.composite
def observations(draw: st.DrawFn) -> dict:
    as_json = draw(st.booleans())
    millis = BASE_MILLIS + draw(st.integers(min_value=-400, max_value=400)) * 86_400_000
    return observation(
        draw(st.sampled_from(["t1", "t2", "t3", None])),
        session=draw(st.sampled_from(["s1", "s2", "s3"])),
        type=draw(st.sampled_from(TYPES)),
        concepts=_as_field(draw(st.lists(st.sampled_from(CONCEPTS), max_size=4)), as_json),
        files_read=_as_field(draw(st.lists(st.sampled_from(PATHS), max_size=3)), as_json),
        files_modified=_as_field(draw(st.lists(st.sampled_from(PATHS), max_size=2)), as_json),
        created_at_epoch=draw(st.sampled_from([millis, millis // 1000])),
    )


teams = st.dictionaries(
    st.text(alphabet="abcdefghij", min_size=4, max_size=4).map(lambda s: f"dev-{s}"),
    st.lists(observations(), max_size=12),
    min_size=1,
    max_size=4,
)


def _profiles(team_obs: dict[str, list[dict]], anonymize: bool = True) -> tuple[metrics.TeamStats, dict]:
    per_dev = {dev: oracle.summarize(oracle.dev_facts(obs)) for dev, obs in team_obs.items()}
    team = oracle.team_stats(per_dev)
    merged = {o.key for summary in per_dev.values() for o in summary.facts[::2]}
    return team, {
        dev: metrics.developer_profile(dev, "demo", summary, team, merged, now_millis=NOW,
                                       anonymize=anonymize)
        for dev, summary in per_dev.items()
    }


def _close_to_100(values: list[float]) -> bool:
    # each value is rounded to 0.1, so the sum is off by at most 0.05 per value
    return abs(sum(values) - 100) <= 0.05 * len(values) + 1e-9


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(teams)
def test_percentages_sum_to_100_and_indexes_stay_in_unit_interval(team_obs: dict) -> None:
    team, profiles = _profiles(team_obs)
    for profile in profiles.values():
        spectrum = profile["knowledgeSpectrum"]
        if spectrum["total"]:
            assert _close_to_100([row["percentage"] for row in spectrum["types"]])
        if team.total:
            assert _close_to_100([row["teamAverage"] for row in spectrum["types"]])
        directories = profile["fileCoverage"]["directories"]
        if directories:
            assert _close_to_100([row["percentage"] for row in directories])
        assert 0.0 <= profile["fileCoverage"]["specializationIndex"] <= 1.0
        assert 0.0 <= profile["temporalPattern"]["consistency"] <= 1.0
        assert 0.0 <= profile["survivalRate"]["rate"] <= 1.0
        assert 0.0 <= profile["conceptMap"]["devCoverage"] <= 100.0
        assert sum(row["count"] for row in profile["temporalPattern"]["weekly"]) == spectrum["total"]
        assert sum(row["count"] for row in profile["temporalPattern"]["monthly"]) == spectrum["total"]
    overview = metrics.team_overview("demo", list(profiles.values()), team, now_millis=NOW)
    assert 0.0 <= overview["avgSurvivalRate"] <= 1.0
    if team.total:
        assert _close_to_100([row["percentage"] for row in overview["typeDistribution"]])


@SETTINGS
@given(teams)
def test_anonymized_profile_never_names_another_developer(team_obs: dict) -> None:
    _, profiles = _profiles(team_obs, anonymize=True)
    for dev, profile in profiles.items():
        pages = orjson.dumps(profile) + render.render_profile(profile).encode()
        for other in profiles:
            if other != dev:
                assert other.encode() not in pages


@SETTINGS
@given(teams)
def test_gaps_are_exactly_team_twice_dev_never(team_obs: dict) -> None:
    team, profiles = _profiles(team_obs)
    for profile in profiles.values():
        for row in profile["conceptMap"]["concepts"]:
            assert row["isGap"] == (row["devCount"] == 0 and row["teamCount"] >= 2)
            assert row["devCount"] <= row["teamCount"]
    concepts = metrics.team_concepts("demo", team, now_millis=NOW)
    assert orjson.dumps(concepts).count(b"dev-") == 0
    for gap in concepts["knowledgeGaps"]:
        assert gap["contributorCount"] == 1 and gap["occurrences"] >= 2


@SETTINGS
@given(teams)
def test_same_team_in_another_order_gives_the_same_bytes(team_obs: dict) -> None:
    _, forward = _profiles(team_obs)
    _, backward = _profiles(dict(reversed(list(team_obs.items()))))
    assert orjson.dumps(forward, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        backward, option=orjson.OPT_SORT_KEYS)


@SETTINGS
@given(teams)
def test_team_totals_match_a_plain_first_copy_wins_count(team_obs: dict) -> None:
    per_dev = {dev: oracle.dev_facts(obs) for dev, obs in team_obs.items()}
    team = oracle.team_stats({dev: oracle.summarize(facts) for dev, facts in per_dev.items()})
    counted: dict = {}
    for dev in sorted(per_dev):
        for facts in per_dev[dev]:
            counted.setdefault(facts.key, facts)
    types: Counter = Counter(facts.type for facts in counted.values())
    concepts: Counter = Counter(c for facts in counted.values() for c in facts.concepts)
    assert team.total == len(counted)
    assert team.type_counts == dict(types)
    assert team.concept_counts == dict(concepts)
    assert sum(team.monthly.values()) == sum(1 for facts in counted.values() if facts.day is not None)


json_values = st.recursive(
    # integers within JSON's usual 64-bit range: orjson, which writes the fixture, refuses others
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
FIELDS = ["memory_session_id", "type", "title", "created_at_epoch", "concepts", "files_read",
          "files_modified", "narrative"]
ENVELOPE = ["version", "exportedBy", "project", "exportedAtEpoch", "observations", "observationCount"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(FIELDS + ENVELOPE), json_values), min_size=1, max_size=3),
       st.binary(max_size=40))
def test_broken_contributions_never_crash_generation(tmp_path_factory, damage, garbage) -> None:
    from builders import contribution
    from memsync.profiles.generate import generate_project_profiles

    repo = tmp_path_factory.mktemp("repo")
    good = contribution([observation("ok", session="s-good")], dev="alice")
    bad = contribution([observation("x"), observation("y", session="s2")], dev="bob")
    for name, value in sorted(damage, key=lambda item: item[0] in ENVELOPE):
        if name in ENVELOPE:
            bad[name] = value
        else:
            bad["observations"][0][name] = value
    for dev, doc in (("alice", good), ("bob", bad)):
        path = repo / "contributions" / "demo" / dev / "2026-03-19T18-30-00.json"
        path.parent.mkdir(parents=True)
        path.write_bytes(orjson.dumps(doc))
    (repo / "contributions" / "demo" / "bob" / "garbage.json").write_bytes(garbage)
    (repo / "merged" / "demo").mkdir(parents=True)
    (repo / "merged" / "demo" / "latest.json").write_bytes(garbage or b"{}")
    run = generate_project_profiles(repo, "demo", now_millis=NOW)
    assert "alice" in run.devs
    profile = orjson.loads((repo / "profiles/demo/alice/profile.json").read_bytes())
    assert 0.0 <= profile["survivalRate"]["rate"] <= 1.0

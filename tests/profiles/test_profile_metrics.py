"""Each metric against values worked out by hand on the team of profile_team.py.

alice: a1 decision (src/a.py, src/b.py; pattern, gotcha; 2026-W12), a2 bugfix (lib/x.py;
pattern, testing; W13), a3 decision (docs/readme.md; no concepts; W15, epoch in seconds),
and a1 again in a second file. bob: b1 feature (src/c.py; gotcha, cache; W12), b2 feature
(cache; W12) and his own copy of a1. The merged set holds a1 and b1.
Team (deduplicated): a1 a2 a3 b1 b2 = 5 observations.
"""

from __future__ import annotations

import math
from pathlib import Path

import metrics_oracle as oracle
from profile_team import DAY, NOW_MILLIS

from builders import BASE_MILLIS, observation, read_json
from memsync.profiles import metrics
from memsync.profiles.generate import generate_project_profiles


def _generate(repo: Path, **kwargs) -> Path:
    generate_project_profiles(repo, "demo", now_millis=NOW_MILLIS, **kwargs)
    return repo / "profiles" / "demo"


def _types(profile: dict) -> dict[str, tuple[int, float, float]]:
    return {row["type"]: (row["count"], row["percentage"], row["teamAverage"])
            for row in profile["knowledgeSpectrum"]["types"]}


def test_knowledge_spectrum_counts_dedup_and_team_average(team: Path) -> None:
    alice = read_json(_generate(team) / "alice" / "profile.json")
    types = _types(alice)
    assert alice["knowledgeSpectrum"]["total"] == 3          # a1 twice counts once
    assert types["decision"] == (2, 66.7, 40.0)               # 2/3 vs team 2/5
    assert types["bugfix"] == (1, 33.3, 20.0)
    assert types["feature"] == (0, 0.0, 40.0)
    assert types["refactor"] == (0, 0.0, 0.0)                 # standard types always listed
    assert [row["type"] for row in alice["knowledgeSpectrum"]["types"]][:2] == ["decision", "bugfix"]


def test_concept_map_gap_is_team_twice_and_dev_never(team: Path) -> None:
    out = _generate(team)
    alice = read_json(out / "alice" / "profile.json")["conceptMap"]
    rows = {row["concept"]: (row["devCount"], row["teamCount"], row["isGap"]) for row in alice["concepts"]}
    assert rows == {
        "pattern": (2, 2, False),
        "gotcha": (1, 2, False),
        "cache": (0, 2, True),
        "testing": (1, 1, False),
    }
    assert alice["totalUniqueConcepts"] == 4
    assert alice["devCoverage"] == 75.0
    bob = read_json(out / "bob" / "profile.json")["conceptMap"]
    bob_rows = {row["concept"]: (row["devCount"], row["teamCount"], row["isGap"]) for row in bob["concepts"]}
    assert bob_rows["testing"] == (0, 1, False)               # the team has it once only: no gap
    assert bob_rows["gotcha"] == (2, 2, False)


def test_file_coverage_directories_and_specialization(team: Path) -> None:
    coverage = read_json(_generate(team) / "alice" / "profile.json")["fileCoverage"]
    assert coverage["directories"] == [
        {"directory": "src", "count": 2, "percentage": 50.0},  # a1 reads and modifies src/a.py: once
        {"directory": "docs", "count": 1, "percentage": 25.0},
        {"directory": "lib", "count": 1, "percentage": 25.0},
    ]
    assert coverage["totalFiles"] == 4
    entropy = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert coverage["specializationIndex"] == round(1 - entropy / math.log(3), 3) == 0.054


def test_temporal_pattern_spans_first_to_last_week_with_gaps_as_zero(team: Path) -> None:
    pattern = read_json(_generate(team) / "alice" / "profile.json")["temporalPattern"]
    assert pattern["weekly"] == [{"week": "2026-W12", "count": 1}, {"week": "2026-W13", "count": 1},
                                 {"week": "2026-W15", "count": 1}]
    assert pattern["monthly"] == [{"month": "2026-03", "count": 2}, {"month": "2026-04", "count": 1}]
    assert pattern["weeksSpanned"] == 4                       # W12..W15, W14 empty
    assert pattern["averagePerWeek"] == 0.75
    # counts 1,1,0,1: mean .75, population sd sqrt(.1875), cv .577 -> 1 - cv
    assert pattern["consistency"] == round(1 - math.sqrt(0.1875) / 0.75, 3) == 0.423


def test_survival_rate_is_share_of_exported_keys_in_merged(team: Path) -> None:
    out = _generate(team)
    assert read_json(out / "alice" / "profile.json")["survivalRate"] == {
        "exported": 3, "survived": 1, "rate": 0.333}
    assert read_json(out / "bob" / "profile.json")["survivalRate"] == {
        "exported": 3, "survived": 2, "rate": 0.667}


def test_team_overview_averages_over_developers(team: Path) -> None:
    overview = read_json(_generate(team) / "team-overview.json")
    assert overview["project"] == "demo"
    assert overview["generatedAt"] == "2026-03-20T09:46:40.000Z"
    assert overview["totalDevs"] == 2
    assert overview["totalObservations"] == 5
    assert overview["avgObservationsPerDev"] == 3.0
    assert overview["avgSurvivalRate"] == 0.5
    assert overview["avgConceptDiversity"] == 75.0
    distribution = {row["type"]: (row["count"], row["percentage"]) for row in overview["typeDistribution"]}
    assert distribution["decision"] == (2, 40.0)
    assert distribution["feature"] == (2, 40.0)
    assert distribution["bugfix"] == (1, 20.0)


def test_team_concepts_flag_concepts_one_person_holds(team: Path) -> None:
    concepts = read_json(_generate(team) / "team-concepts.json")
    rows = {row["concept"]: (row["devCount"], row["teamCount"], row["isGap"]) for row in concepts["concepts"]}
    assert rows == {"pattern": (2, 2, False), "gotcha": (2, 2, False), "cache": (1, 2, True),
                    "testing": (1, 1, False)}
    assert concepts["knowledgeGaps"] == [
        {"concept": "cache", "contributorCount": 1, "totalTeamCount": 2, "occurrences": 2}]


# --- edge cases on the pure functions --------------------------------------------------------

def _profile(observations: list[dict]) -> dict:
    per_dev = {"solo": oracle.summarize(oracle.dev_facts(observations))}
    team = oracle.team_stats(per_dev)
    return metrics.developer_profile("solo", "demo", per_dev["solo"], team, set(), now_millis=NOW_MILLIS)


def test_one_developer_team_average_equals_own_share() -> None:
    profile = _profile([observation("x", type="decision"), observation("y", type="bugfix"),
                        observation("z", type="bugfix")])
    for row in profile["knowledgeSpectrum"]["types"]:
        assert row["percentage"] == row["teamAverage"]
    assert profile["conceptMap"]["devCoverage"] == 100.0
    assert not any(row["isGap"] for row in profile["conceptMap"]["concepts"])


def test_developer_without_files_has_zero_specialization() -> None:
    coverage = _profile([observation("x", files_read=None, files_modified="")])["fileCoverage"]
    assert coverage == {"directories": [], "totalFiles": 0, "fileReferences": 0,
                        "totalDirectories": 0, "specializationIndex": 0.0}


def test_single_directory_is_fully_specialized() -> None:
    coverage = _profile([observation("x", files_read='["a/1.py", "a/2.py"]', files_modified="a/3.py")])
    assert coverage["fileCoverage"]["specializationIndex"] == 1.0
    assert coverage["fileCoverage"]["directories"] == [{"directory": "a", "count": 3, "percentage": 100.0}]


def test_single_week_is_perfectly_consistent() -> None:
    pattern = _profile([observation(f"t{i}", created_at_epoch=BASE_MILLIS + i * 3_600_000)
                        for i in range(4)])["temporalPattern"]
    assert pattern["weekly"] == [{"week": "2026-W12", "count": 4}]
    assert (pattern["averagePerWeek"], pattern["consistency"], pattern["weeksSpanned"]) == (4.0, 1.0, 1)


def test_empty_concepts_give_empty_map_and_zero_coverage() -> None:
    concept_map = _profile([observation("x", concepts=None), observation("y", concepts="[]"),
                            observation("z", concepts="")])["conceptMap"]
    assert concept_map["concepts"] == []
    assert (concept_map["totalUniqueConcepts"], concept_map["devCoverage"]) == (0, 0.0)


def test_no_observations_give_zeros_not_errors() -> None:
    team = oracle.team_stats({"other": oracle.summarize(oracle.dev_facts([observation("x")]))})
    profile = metrics.developer_profile("solo", "demo", oracle.summarize([]), team, set(),
                                        now_millis=NOW_MILLIS)
    assert profile["survivalRate"] == {"exported": 0, "survived": 0, "rate": 0.0}
    assert profile["temporalPattern"]["consistency"] == 0.0
    assert profile["knowledgeSpectrum"]["total"] == 0


def test_seconds_and_millis_of_the_same_moment_are_one_observation() -> None:
    profile = _profile([observation("x", created_at_epoch=BASE_MILLIS),
                        observation("x", created_at_epoch=BASE_MILLIS // 1000)])
    assert profile["knowledgeSpectrum"]["total"] == 1


def test_concepts_as_json_array_or_comma_list_are_the_same() -> None:
    as_json = _profile([observation("x", concepts='["a", "b"]')])["conceptMap"]
    as_csv = _profile([observation("x", concepts="a, b")])["conceptMap"]
    assert as_json == as_csv
    assert {row["concept"] for row in as_json["concepts"]} == {"a", "b"}


def test_epoch_beyond_the_calendar_is_left_out_of_time_series() -> None:
    pattern = _profile([observation("x", created_at_epoch=10**18), observation("y")])["temporalPattern"]
    assert pattern["weekly"] == [{"week": "2026-W12", "count": 1}]


def test_consistency_drops_with_bursts() -> None:
    steady = [observation(f"s{i}", created_at_epoch=BASE_MILLIS + i * 7 * DAY) for i in range(4)]
    bursty = [observation(f"b{i}", created_at_epoch=BASE_MILLIS + (0 if i < 3 else 21 * DAY))
              for i in range(4)]
    assert _profile(steady)["temporalPattern"]["consistency"] == 1.0
    # counts 3,0,0,1 over four weeks: mean 1, sd sqrt(2.5 - 1) -> cv > 1 -> clamped to 0
    assert _profile(bursty)["temporalPattern"]["consistency"] == 0.0


def test_without_anonymize_gaps_name_who_holds_them(team: Path) -> None:
    out = _generate(team, anonymize=False)
    alice = read_json(out / "alice" / "profile.json")["conceptMap"]["concepts"]
    assert [row.get("knownBy") for row in alice if row["isGap"]] == [["bob"]]
    gaps = read_json(out / "team-concepts.json")["knowledgeGaps"]
    assert gaps[0]["heldBy"] == ["bob"]

"""The path from wire bytes finds what the path from observations finds: the same
simulated stations, fed once as Observation objects and once as the JSON messages a Kafka
worker receives, give the same anomalies and store the same rows."""

from __future__ import annotations

from mass_tui.bench import encoded
from mass_tui.evaluation.runner import run_chunks
from mass_tui.evaluation.simulated import simulated_chunks, simulated_stations
from mass_tui.settings_layers import load_settings
from pipeline.store import Store


def anomaly_keys(outcome) -> list[tuple]:
    return sorted(
        (a.station_id, a.variable, a.detector, a.observed_at, round(a.score, 9))
        for a in outcome.anomalies
    )


def test_json_messages_and_observations_give_the_same_anomalies_and_rows(tmp_path):
    loaded = load_settings(environ={}, user_config=tmp_path / "u.toml")
    simulator, stations = simulated_stations(loaded, 20)
    names = loaded.variable_names
    outcomes, stored = [], []
    for name, as_json in (("objects", False), ("json", True)):
        store = Store(tmp_path / f"{name}.sqlite3", names, retention_s=1e9)
        chunks = simulated_chunks(simulator, stations, names, 1_500)
        outcome = run_chunks(
            loaded, stations, encoded(chunks) if as_json else chunks, batch=5_000, store=store
        )
        outcomes.append(outcome)
        with Store(tmp_path / f"{name}.sqlite3", names, retention_s=1e9) as reopened:
            stored.append(reopened.recent_observations(0.0))
    objects, json_ = outcomes
    assert objects.accepted == json_.accepted == 20 * 1_500
    assert anomaly_keys(objects) and anomaly_keys(objects) == anomaly_keys(json_)
    assert stored[0].observed_at.tolist() == stored[1].observed_at.tolist()
    assert (stored[0].values.tobytes()) == (stored[1].values.tobytes())

"""The service's HTTP API, served by uvicorn on loopback over a real pipeline and store fed
with simulated readings (a front in London: a pressure-fall warning is open), called with
httpx: status codes, documents, bad input and tokens for every endpoint."""

from __future__ import annotations

import math
import tomllib

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mass_tui.http.access import Access, AccessError
from mass_tui.http.api import ENDPOINTS, ServiceApi
from mass_tui.http.console_view import decode_view, snapshot_of
from mass_tui.http.metrics import PipelineCollector, registry_of
from mass_tui.http.serve import serving
from tests.conftest import INTERVAL, START, make_console


@pytest.fixture
def service(tmp_path):
    console = make_console(tmp_path, steps=10)
    collector = PipelineCollector(console.pipeline)  # counts anomalies from here on
    console.feed(320)
    access = Access.for_address("127.0.0.1", None)
    api = ServiceApi(
        console.pipeline,
        console.store.reader(),
        console.loaded,
        access,
        metrics=registry_of(collector),
        pid=1234,
    )
    with (
        serving(api.app(), "127.0.0.1:0") as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        yield client, console, access, collector
    api.reader.close()


def acting(access: Access, user: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {access.local_token}", "X-Mass-User": user}


def test_healthz_is_200_while_healthy_and_503_naming_what_fails(service):
    client, console, _, _ = service
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    console.pipeline.health.report("consumer", "failed", "RuntimeError: boom")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["problems"] == ["consumer failed: RuntimeError: boom"]
    assert {"name": "consumer", "state": "failed", "detail": "RuntimeError: boom"} in body[
        "workers"
    ]


def test_metrics_parse_and_agree_with_the_pipeline(service):
    client, console, _, collector = service
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    c = console.pipeline.analytics.counters
    assert samples[("mass_tui_observations_stored_total", ())] == c.stored > 0
    assert samples[("mass_tui_observations_accepted_total", ())] == c.accepted
    by_detector = {
        labels[0][1]: v
        for (name, labels), v in samples.items()
        if name == "mass_tui_anomalies_total"
    }
    assert by_detector == collector.detectors.snapshot()
    assert sum(by_detector.values()) > 0
    warnings = samples[("mass_tui_alerts_open", (("severity", "warning"),))]
    open_warnings = [
        a
        for a in console.pipeline.analytics.alerts.alerts()
        if a.is_open and a.severity == "warning"
    ]
    assert warnings == len(open_warnings) >= 1
    assert samples[("mass_tui_store_write_seconds_count", ())] >= 1
    assert ("mass_tui_bus_depth", ()) in samples


def test_stations_show_latest_values_and_the_alerting_state(service):
    client, console, _, _ = service
    stations = {s["id"]: s for s in client.get("/api/v1/stations").json()}
    assert set(stations) == {s.station_id for s in console.loaded.stations}
    london = stations["lon"]
    assert london["state"] == "warning" and london["open_alerts"] >= 1
    assert london["latest_at"] == "2026-01-01T05:29:00Z"
    assert 900 < london["latest"]["pressure_msl_hpa"] < 1100
    assert stations["nyc"]["state"] == "ok"


def test_series_raw_and_rolled_up_agree(service):
    client, _, _, _ = service
    raw = client.get(
        "/api/v1/stations/lon/series",
        params={"variable": "pressure_msl_hpa", "since": "2026-01-01T00:00:00Z"},
    ).json()
    assert raw["unit"] == "hPa" and raw["step_s"] == 0
    times = np.array([np.datetime64(p["t"].rstrip("Z")) for p in raw["points"]])
    values = np.array([p["value"] for p in raw["points"]])
    assert len(values) == 330
    rolled = client.get(
        "/api/v1/stations/lon/series",
        params={"variable": "pressure_msl_hpa", "since": str(START), "step": "3600"},
    ).json()
    assert [p["count"] for p in rolled["periods"]] == [60, 60, 60, 60, 60, 30]
    for period in rolled["periods"]:
        start = np.datetime64(period["t"].rstrip("Z"))
        inside = values[(times >= start) & (times < start + np.timedelta64(3600, "s"))]
        assert period["min"] == inside.min() and period["max"] == inside.max()
        assert math.isclose(period["mean"], inside.mean(), rel_tol=1e-12)


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("/api/v1/stations/nowhere/series", {"variable": "temperature_c"}, 404, "no station"),
        ("/api/v1/stations/lon/series", {"variable": "rain"}, 400, "variable: one of"),
        ("/api/v1/stations/lon/series", {"variable": "temperature_c", "step": "90"}, 400, "step"),
        (
            "/api/v1/stations/lon/series",
            {"variable": "temperature_c", "since": "soon"},
            400,
            "since",
        ),
        ("/api/v1/anomalies", {"min_score": "high"}, 400, "min_score"),
        ("/api/v1/anomalies", {"limit": "0"}, 400, "limit"),
        ("/api/v1/anomalies", {"since": "1e300"}, 400, "since"),
        ("/api/v1/alerts", {"state": "loud"}, 400, "state"),
        ("/api/v1/stats", {"variable": "temperature_c", "period": "week"}, 400, "period"),
        ("/api/v1/stats", {}, 400, "variable"),
        ("/api/v1/nothing", {}, 404, "Not Found"),
        ("/api/v1/stations/a%2Fb/series", {"variable": "temperature_c"}, 404, "no station 'a/b'"),
        ("/api/v1/stations/%2E%2E/series", {"variable": "temperature_c"}, 404, "no station '..'"),
    ],
)
def test_bad_requests_get_a_json_error(service, path, params, status, says):
    client, _, _, _ = service
    response = client.get(path, params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert says in response.json()["error"]


def test_hostile_requests_get_a_json_4xx_and_the_service_goes_on(service):
    client, _, access, _ = service
    headers = acting(access)
    for alert_id in ("%C2%B2", "9" * 5000, "-1", "1.0"):
        response = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=headers)
        assert response.status_code == 400, alert_id
        assert "not an alert id" in response.json()["error"]
    deep = b'{"a":' * 10_000
    response = client.post("/api/v1/stations/lon/silence", content=deep, headers=headers)
    assert response.status_code == 400 and "not JSON" in response.json()["error"]
    huge = b'{"minutes": 5, "x": "' + b"y" * 100_000 + b'"}'
    response = client.post("/api/v1/stations/lon/silence", content=huge, headers=headers)
    assert response.status_code == 413
    rebound = client.get("/api/v1/stations", headers={"Host": "attacker.example:8765"})
    assert rebound.status_code == 400 and "loopback" in rebound.json()["error"]
    for bad in (2.5, 1e300):
        change = {"detector": "stuck", "parameter": "samples", "variable": "wind_dir_deg"}
        response = client.put("/api/v1/thresholds", json={**change, "value": bad}, headers=headers)
        assert response.status_code == 422, bad
    assert client.get("/healthz").status_code == 200  # the same connection, still served


def test_anomalies_filter_by_station_detector_and_score(service):
    client, _, _, _ = service
    everything = client.get("/api/v1/anomalies", params={"limit": "10000"}).json()
    assert everything and everything == sorted(
        everything, key=lambda a: a["observed_at"], reverse=True
    )
    falls = client.get(
        "/api/v1/anomalies", params={"station": "lon", "detector": "pressure_fall"}
    ).json()
    assert falls and all(
        a["station_id"] == "lon" and a["detector"] == "pressure_fall" for a in falls
    )
    strong = client.get("/api/v1/anomalies", params={"min_score": "0.7"}).json()
    assert all(a["score"] >= 0.7 for a in strong)
    assert len(strong) < len(everything)


def test_acknowledging_needs_a_token_and_records_the_caller(service):
    client, console, access, _ = service
    warning = next(a for a in client.get("/api/v1/alerts").json() if a["severity"] == "warning")
    path = f"/api/v1/alerts/{warning['id']}/ack"
    refused = client.post(path)
    assert refused.status_code == 401 and "bearer token" in refused.json()["error"]
    assert client.post(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    done = client.post(path, headers=acting(access))
    assert done.status_code == 200
    (changed,) = done.json()["changed"]
    assert changed["state"] == "acknowledged" and changed["acknowledged_by"] == "alice"
    kept = {a.id: a for a in console.pipeline.analytics.alerts.alerts()}[warning["id"]]
    assert kept.state == "acknowledged" and kept.acknowledged_by == "alice"
    assert client.post(path, headers=acting(access)).status_code == 409
    assert client.post("/api/v1/alerts/999/ack", headers=acting(access)).status_code == 404
    assert client.post("/api/v1/alerts/x/ack", headers=acting(access)).status_code == 400
    acknowledged = client.get("/api/v1/alerts", params={"state": "acknowledged"}).json()
    assert [a["id"] for a in acknowledged] == [warning["id"]]


def test_silencing_an_alert_and_a_station(service):
    client, console, access, _ = service
    alert = client.get("/api/v1/alerts").json()[0]
    path = f"/api/v1/alerts/{alert['id']}/silence"
    assert client.post(path, content=b"{", headers=acting(access)).status_code == 400
    bad = client.post(path, json={"minutes": "long"}, headers=acting(access))
    assert bad.status_code == 422 and "minutes" in bad.json()["error"]
    assert client.post(path, json={"minutes": -5}, headers=acting(access)).status_code == 422
    done = client.post(path, json={"minutes": 30}, headers=acting(access, "bob"))
    assert done.status_code == 200
    (changed,) = done.json()["changed"]
    assert changed["silenced_by"] == "bob"
    assert changed["silenced_until"] == "2026-01-01T05:59:00Z"  # 30 min of observed time
    lifted = client.post(f"/api/v1/alerts/{alert['id']}/unsilence", headers=acting(access))
    assert lifted.json()["changed"][0]["silenced_until"] is None
    station = client.post("/api/v1/stations/lon/silence", json={}, headers=acting(access))
    assert station.status_code == 200
    assert console.pipeline.desk.station_silenced("lon")
    london = next(s for s in client.get("/api/v1/stations").json() if s["id"] == "lon")
    assert london["silenced_until"] == "2026-01-01T06:29:00Z"  # the default hour
    client.post("/api/v1/stations/lon/unsilence", headers=acting(access))
    assert not console.pipeline.desk.station_silenced("lon")
    assert client.post("/api/v1/stations/xx/silence", headers=acting(access)).status_code == 404


def test_thresholds_are_listed_changed_applied_and_saved(service):
    client, console, access, _ = service
    listed = client.get("/api/v1/thresholds").json()
    zscore = next(
        t for t in listed if (t["detector"], t["variable"]) == ("zscore", "temperature_c")
    )
    assert zscore["setting"] == "detectors.zscore.thresholds.temperature_c"
    change = {"detector": "zscore", "parameter": "threshold", "variable": "temperature_c"}
    assert client.put("/api/v1/thresholds", json={**change, "value": 6.5}).status_code == 401
    for bad in (
        {**change, "value": 0},
        {**change, "value": "x"},
        {**change, "variable": "rain", "value": 1},
        {"detector": "nope", "parameter": "x", "variable": "temperature_c", "value": 1},
    ):
        response = client.put("/api/v1/thresholds", json=bad, headers=acting(access))
        assert response.status_code == 422, bad
    done = client.put("/api/v1/thresholds", json={**change, "value": 6.5}, headers=acting(access))
    assert done.status_code == 200
    body = done.json()
    assert body["saved"] and body["setting"] == "detectors.zscore.thresholds.temperature_c"
    applied = {
        (t.detector, t.parameter): t.value for t in console.pipeline.thresholds("temperature_c")
    }
    assert applied[("zscore", "threshold")] == 6.5
    saved = tomllib.loads(console.loaded.user_config.read_text())
    assert saved["detectors"]["zscore"]["thresholds"]["temperature_c"] == 6.5


def test_stats_per_hour_and_day_match_the_stored_readings(service):
    client, console, _, _ = service
    hourly = client.get(
        "/api/v1/stats", params={"variable": "temperature_c", "since": "2026-01-01T00:00:00Z"}
    ).json()
    assert hourly["period"] == "hour"
    rows = [r for r in hourly["rows"] if r["station"] == "nyc"]
    assert [r["period_start"][11:16] for r in rows] == [
        "00:00",
        "01:00",
        "02:00",
        "03:00",
        "04:00",
        "05:00",
    ]
    times, values = console.store.series("nyc", "temperature_c", START)
    for row, hour in zip(rows, range(6), strict=True):
        inside = values[(times >= START + hour * 3600) & (times < START + (hour + 1) * 3600)]
        assert row["count"] == len(inside)
        assert math.isclose(row["mean"], inside.mean(), rel_tol=1e-9)
        assert math.isclose(row["stddev"], inside.std(), rel_tol=1e-6)
        assert (row["min"], row["max"]) == (inside.min(), inside.max())
    daily = client.get(
        "/api/v1/stats",
        params={
            "variable": "temperature_c",
            "period": "day",
            "station": "nyc",
            "since": str(START),
        },
    ).json()
    (day,) = daily["rows"]
    assert day["count"] == 330 and day["period_start"] == "2026-01-01T00:00:00Z"
    # Whole periods: from the one `since` falls in to the last one starting before `until`.
    edges = client.get(
        "/api/v1/stats",
        params={
            "variable": "temperature_c",
            "station": "nyc",
            "since": str(START + 1800),
            "until": str(START + 3601),
        },
    ).json()["rows"]
    assert [(r["period_start"][11:16], r["count"]) for r in edges] == [("00:00", 60), ("01:00", 60)]
    assert (
        client.get(
            "/api/v1/stats", params={"variable": "temperature_c", "station": "zz"}
        ).status_code
        == 404
    )


def test_the_openapi_document_describes_every_endpoint(service):
    client, _, _, _ = service
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    for endpoint in ENDPOINTS:
        operation = document["paths"][endpoint.path][endpoint.method.lower()]
        assert operation["summary"] == endpoint.summary
        if endpoint.changes_state:
            assert operation["security"] == [{"bearer": []}]
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"].rsplit("/", 1)[1])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document["paths"])
    assert refs and refs <= set(document["components"]["schemas"])


def test_the_console_document_rebuilds_the_snapshot(service):
    client, console, _, _ = service
    view = decode_view(client.get("/api/v1/console", params={"series": "lon,nowhere"}).content)
    assert view.pid == 1234 and set(view.series) == {"lon"}
    snap, here = snapshot_of(view), console.pipeline.snapshot()
    assert snap.now == here.now == START + 329 * INTERVAL
    assert [s.station_id for s in snap.stations] == [s.station_id for s in here.stations]
    np.testing.assert_array_equal(snap.latest_values, here.latest_values)
    assert [a.id for a in snap.alerts] == [a.id for a in here.alerts]
    assert len(snap.anomalies) == min(len(here.anomalies), 300)
    assert view.thresholds["temperature_c"] == console.pipeline.thresholds("temperature_c")
    times, values = console.pipeline.recent_series("lon")
    np.testing.assert_array_equal(view.series["lon"].times, times)
    np.testing.assert_array_equal(view.series["lon"].values, values)


def test_beyond_loopback_a_token_is_required_for_everything(tmp_path):
    with pytest.raises(AccessError, match="MASS_TUI_API_TOKEN"):
        Access.for_address("0.0.0.0", None)
    with pytest.raises(AccessError, match="too short"):
        Access.for_address("0.0.0.0", "s3cret")
    token = "a-long-enough-secret-token"
    access = Access.for_address("0.0.0.0", token)
    anonymous = access.caller(None, None)
    assert access.refusal(anonymous, changes_state=False)
    assert access.refusal(access.caller(f"Bearer {token}", None), changes_state=True) is None
    assert access.caller(f"Bearer {token}", "\x1b[31mmallory").user == "\\x1b[31mmallory"
    assert access.caller(f"Bearer {token}", "jos%C3%A9%0A").user == "josé"  # UTF-8, encoded
    assert Access.for_address("::1", None).loopback

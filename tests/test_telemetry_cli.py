"""``factoryfloor telemetry`` runs the sources headless and prints what they report."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from vllm_page import VllmPage

from factoryfloor.app.telemetry_cli import add_arguments, settings_from
from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.design.mqtt_settings import MqttConfig

if TYPE_CHECKING:
    from broker import Mosquitto, Publisher
    from trickle_server import TrickleServer

pytest_plugins = ["broker", "trickle_server"]

ROOT = Path(__file__).resolve().parents[1]
DEMO = "resources/demo_hall.json"


def test_simulated_demo_reports_power_and_tokens() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "factoryfloor.app", "telemetry", DEMO, "--seconds", "2.5"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("simulator: Hall 1 (demo AI factory): status: running: 26 racks")
    summary = [line for line in lines if "IT power" in line]
    assert summary and "kW" in summary[0] and "tokens/s" in summary[0]
    assert "IT power n/a" not in summary[-1]  # the simulator had published by then


def test_nothing_to_run_says_so() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "factoryfloor.app", "telemetry", DEMO, "--no-simulator"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "nothing to run" in result.stdout


def test_a_trickling_inference_server_does_not_keep_it_running(trickling: TrickleServer) -> None:
    command = [sys.executable, "-m", "factoryfloor.app", "telemetry", DEMO, "--no-simulator",
               "--metrics", f"{trickling.url},vllm", "--seconds", "2"]  # fmt: skip
    started = time.monotonic()
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError("still running 30 s after a 2 s run") from None
    took_s = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert f"prometheus: {trickling.url}: status: down: no full page within 0.8 s" in result.stdout
    assert took_s < 10.0


SITE_MQTT = {
    "host": "bms-broker", "port": 8883, "tls": True, "username": "factoryfloor",
    "bms_prefix": "SITE/BMS", "node_prefix": None, "qos": 1,
    "points": [{"object_type": "Rack", "point_type": "RackLiquidSupplyTemperature",
                "tag_path": "Hall1/RowA/A01", "kind": "rack", "entity_id": "A01",
                "quantity": "supply_temp_c"}],
}  # fmt: skip


def settings_for(mqtt: dict | None, *argv: str) -> MqttConfig | None:
    """The MQTT settings ``factoryfloor telemetry`` would run with for a design holding ``mqtt``."""
    design = load_design(ROOT / DEMO)
    telemetry = design.telemetry.model_copy(
        update={"mqtt": None if mqtt is None else MqttConfig.model_validate(mqtt)}
    )
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([DEMO, *argv])
    return settings_from(args, design.model_copy(update={"telemetry": telemetry})).mqtt


def test_mqtt_flag_changes_only_where_to_connect() -> None:
    """The design's point mapping, prefixes, TLS and login still apply to the broker named."""
    design_mqtt = MqttConfig.model_validate(SITE_MQTT)
    moved = settings_for(SITE_MQTT, "--mqtt", "127.0.0.1:18883")
    assert moved == design_mqtt.model_copy(update={"host": "127.0.0.1", "port": 18883})
    assert settings_for(SITE_MQTT, "--mqtt", "other-broker") == design_mqtt.model_copy(
        update={"host": "other-broker"}
    ), "without a port, the design's"
    assert settings_for(SITE_MQTT) == design_mqtt


def test_mqtt_flag_without_mqtt_settings_in_the_design_makes_default_ones() -> None:
    assert settings_for(None, "--mqtt", "broker:1884") == MqttConfig(host="broker", port=1884)
    assert settings_for(None, "--mqtt", "broker") == MqttConfig(host="broker", port=1883)
    assert settings_for(None) is None


def test_mqtt_flag_feeds_the_design_s_mapped_points(
    mosquitto: Mosquitto, publisher: Publisher, tmp_path: Path
) -> None:
    """End to end: a retained DSX value of a mapped point is stored though the design names
    another broker."""
    design = json.loads((ROOT / DEMO).read_text(encoding="utf-8"))
    design["telemetry"]["mqtt"] = SITE_MQTT | {"tls": False, "username": None, "qos": 0}
    path = tmp_path / "hall.json"
    path.write_text(json.dumps(design), encoding="utf-8")
    value = {"value": 31.5, "timestamp": 1743620423000, "quality": 1}
    topic = "SITE/BMS/Value/Rack/RackLiquidSupplyTemperature/Hall1/RowA/A01"
    publisher.publish(topic, value, retain=True)
    result = subprocess.run(
        [sys.executable, "-m", "factoryfloor.app", "telemetry", str(path), "--no-simulator",
         "--mqtt", f"{mosquitto.host}:{mosquitto.port}", "--seconds", "2.5"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].endswith(" 1 series"), result.stdout


class SteppingVllm(VllmPage):
    """A vLLM page whose generation counter moves in steps: 2,000 tokens every 2 s, on the
    clock (1,000 tokens/s on average), and counts the requests it answers."""

    requests = 0

    @classmethod
    def generation_tokens(cls) -> float:
        return 2000.0 * (time.time() // 2.0)


@pytest.fixture
def stepping_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SteppingVllm)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                     daemon=True).start()  # fmt: skip
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()
    server.server_close()


def test_printed_tokens_per_s_is_the_rate_over_the_line_not_a_scrape(stepping_server: str) -> None:
    """Read every 0.5 s, the stepping counter gives 4,000 tokens/s in one scrape in four and 0
    in the others; a line every 4 s shows the rate over its 4 s, near 1,000, never 0."""
    SteppingVllm.requests = 0
    command = [sys.executable, "-m", "factoryfloor.app", "telemetry", DEMO, "--no-simulator",
               "--metrics", f"{stepping_server},vllm,,0.5",
               "--every", "4", "--seconds", "16"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rates = [float(re.search(r"tokens/s ([\d,.]+|n/a)", line)[1].replace(",", ""))
             for line in result.stdout.splitlines() if "tokens/s" in line]  # fmt: skip
    assert len(rates) == 4, result.stdout
    # Each line's 3.5 to 4.5 s holds one to three steps of 2,000 tokens.
    assert all(400 <= rate <= 2000 for rate in rates), rates
    assert 600 <= sum(rates) / len(rates) <= 1400, rates
    assert SteppingVllm.requests >= 20  # every 0.5 s, not the default 1 s: about 32 in 16 s


def test_a_bad_metrics_field_is_refused_naming_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "factoryfloor.app", "telemetry", DEMO,
         "--metrics", "http://127.0.0.1:9/metrics,vllm,,0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "argument --metrics: 'http://127.0.0.1:9/metrics,vllm,,0': scrape_interval_s:" in (
        result.stderr
    )

"""The benchmark reports' schema (not their timings): what `make bench` commits, and the README section it writes."""

from __future__ import annotations

import json
import time

import pytest

from benchmarks.__main__ import BENCHMARKS, REPORTS, main
from benchmarks.common import machine, timed_runs
from benchmarks.readme_table import END, START, render, update_readme
from engine.paths import PROJECT_ROOT

STAGES = ("decode_detect", "clean2d", "lift", "cleanup", "retarget", "keyframes", "export_fbx", "export_bvh")


def _load(name: str) -> dict:
    path = REPORTS / name
    assert path.is_file(), f"{path} is not committed: run `make bench`"
    return json.loads(path.read_text())


def _check_machine(m: dict) -> None:
    assert isinstance(m["cpu"], str) and m["cpu"]
    assert isinstance(m["cores"], int) and m["cores"] >= 1
    assert isinstance(m["python"], str)
    assert "gpu" in m


def test_bench_json_records_machine_versions_and_every_benchmark() -> None:
    report = _load("bench.json")
    _check_machine(report["machine"])
    assert isinstance(report["versions"]["numpy"], str)
    assert time.strptime(report["date"], "%Y-%m-%dT%H:%M:%SZ")
    assert isinstance(report["quick"], bool)
    assert set(BENCHMARKS) <= set(report["benchmarks"]), "a benchmark is missing from bench.json"
    for name, result in report["benchmarks"].items():
        assert isinstance(result["seconds"], int | float), name
        assert "error" not in result, f"{name} failed in the committed run: {result.get('error')}"
    # GPU figures are carried from the GPU machine's run, with the card named
    if report["gpu"] is not None:
        assert isinstance(report["gpu"]["card"], str)
    model = report["model"]
    assert model["params_thop_style"] > 0 and model["params_true"] >= model["params_thop_style"]
    assert isinstance(model["status"], str)
    assert (REPORTS / "bench.md").read_text().startswith("# Benchmarks")


def test_pipeline_report_splits_a_minute_by_stage_with_runs_and_goals() -> None:
    report = _load("pipeline.json")
    _check_machine(report["machine"])
    assert report["clip"]["fps"] == 30.0 and report["clip"]["frames"] == round(report["clip"]["seconds"] * 30)
    for stage in STAGES:
        fig = report["stages"][stage]
        assert set(fig) >= {"median_s", "min_s", "max_s", "runs"}, stage
        assert isinstance(fig["runs"], int) and fig["runs"] >= 1
        assert 0 < fig["min_s"] <= fig["median_s"] <= fig["max_s"]
        assert report["s_per_minute"][stage] > 0
    goals = report["goals"]
    for key in ("after_detection_met", "detect_720p_realtime_met"):
        assert isinstance(goals[key], bool), key
    assert goals["after_detection_goal_s"] == 5.0
    after = sum(v for k, v in report["s_per_minute"].items() if k != "decode_detect")
    assert goals["after_detection_s_per_minute"] == pytest.approx(after, abs=0.02)
    assert goals["after_detection_met"] == (after < 5.0)
    assert (REPORTS / "pipeline.png").is_file()


def test_readme_section_matches_bench_json() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert readme.count(START) == 1 and readme.count(END) == 1
    section = readme.split(START, 1)[1].split(END, 1)[0].strip("\n")
    assert section == render(_load("bench.json")), "README is stale: run `make bench` (or --only pictures)"


SMALL = {
    "date": "2026-01-01T00:00:00Z", "quick": True,
    "machine": {"cpu": "Test CPU", "cores": 2, "gpu": None, "python": "3.11.7"},
    "accuracy": {"average": {"p1_noisy": 80.0, "p2_noisy": 60.0, "p1_depth_only": 50.0}, "subset": "2 sequences"},
    "model": {"params_thop_style": 640_000, "params_true": 950_000, "status": "interim: testing"},
    "gpu": {"card": "Card X", "infer_frames_per_s_batch64_fp32": 1000.0},
    "benchmarks": {"lifter": {"headline": {"numpy_frames_per_s": 100.0, "torch_cpu_frames_per_s": 200.0}},
                   "detect": {"detect_fps": 31.0},
                   "pipeline": {"headline": {"decode_detect_s_per_min": 70.0, "lift_s_per_min": 3.0,
                                             "cleanup_s_per_min": 0.5, "runs": {"decode_detect": 1, "lift": 1,
                                                                                 "cleanup": 5},
                                             "after_detection_s_per_minute": 3.5, "after_detection_met": True,
                                             "detect_720p_realtime_met": True}}},
}


def test_render_shows_each_headline_figure_and_goal() -> None:
    text = render(SMALL)
    assert "| Accuracy: H36M P1, noisy 2D | 80.0 mm | 41.48 mm (detected 2D) | 2 sequences |" in text
    assert "0.64M (thop-style) / 0.95M (all)" in text
    assert "| 100 frames/s |" in text and "| 200 frames/s |" in text and "1,000 frames/s" in text
    assert "Card X" in text and "Test CPU, 2 cores" in text
    assert "goal: < 5 s (met)" in text and "goal: real time (30) (met)" in text
    assert "| 70.00 (1x) | 3.00 (1x) | 0.50 (5x) |" in text
    assert "interim" in text and "(testing)" in text
    final = render({**SMALL, "model": {**SMALL["model"], "status": "217 epochs; meets the targets"}})
    assert "interim" not in final and "The shipped lifter weights: 217 epochs; meets the targets." in final
    assert "accuracy.png" not in text  # no accuracy picture recorded
    # a missing figure reads "not measured", never a crash or an invented number
    bare = render({"benchmarks": {}})
    assert "not measured" in bare and "(**not met**)" not in bare


def test_update_readme_touches_only_its_section(tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nIntro.\n\n## Licences and data provenance\n\nGPL.\n")
    assert update_readme(SMALL, readme)
    text = readme.read_text()
    assert text.startswith("# Title\n\nIntro.\n\n## Measured\n\n" + START)
    assert text.endswith(END + "\n\n## Licences and data provenance\n\nGPL.\n")
    assert not update_readme(SMALL, readme)  # idempotent
    changed = {**SMALL, "accuracy": {"average": {"p1_noisy": 70.0}}}
    assert update_readme(changed, readme)
    new = readme.read_text()
    assert "| 70.0 mm |" in new and "| 80.0 mm |" not in new and new.count(START) == 1
    assert new.split(START)[0] == text.split(START)[0] and new.split(END)[1] == text.split(END)[1]
    plain = tmp_path / "PLAIN.md"
    plain.write_text("# Only a title\n")
    update_readme(SMALL, plain)
    assert plain.read_text().startswith("# Only a title\n\n## Measured\n\n" + START)


def test_timed_runs_and_machine_shapes() -> None:
    fig = timed_runs(lambda: sum(range(100)), repeats=3)
    assert fig["runs"] == 3 and 0 <= fig["min_s"] <= fig["median_s"] <= fig["max_s"]
    _check_machine(machine())


def test_unknown_benchmark_is_refused(capsys) -> None:
    assert main(["--only", "nope"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err


def test_accuracy_picture_from_an_eval_report(tmp_path) -> None:
    from benchmarks.pictures import PAPER_P1_DETECTED_MM, PAPER_P1_GT2D_MM, accuracy_picture

    missing = accuracy_picture(out=tmp_path / "a.png", source=tmp_path / "none.json")
    assert missing["accuracy_png"] is None and "missing" in missing["why"]
    m = {"p1_noisy": 70.0, "p1_depth_only": 60.0}
    (tmp_path / "eval.json").write_text(json.dumps({
        "per_action": {"Walking": m, "Sitting": m}, "average": m, "sequences": 2, "subjects": ["S9"],
        "cameras": [0], "frames_per_sequence": 243, "training": {"status": "interim: test"}}))
    out = accuracy_picture(out=tmp_path / "acc.png", source=tmp_path / "eval.json")
    assert out["actions"] == 2 and out["paper_lines_mm"] == [PAPER_P1_DETECTED_MM, PAPER_P1_GT2D_MM]
    assert (tmp_path / "acc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gpu_rate_is_the_product_kernels_best_with_its_card(tmp_path, monkeypatch) -> None:
    """The GPU headline: the best plain Triton rate among gpu_scan runs with the Triton deformable conv, named by
    that run's card (not gpu_check.json's); runs with torchvision's conv are kept apart, graph timings ignored."""
    import benchmarks.lifter as bench_lifter

    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "gpu_check.json").write_text(json.dumps({"card": "Card A", "infer_frames_per_s_batch64_bf16": 90.0}))

    def scan(device: str, rate: float, **extra) -> str:
        return json.dumps({"device": device, "batches": [64], "model_batch64_triton": {"frames_per_s": rate},
                           "model_batch64_triton_graph": {"frames_per_s": 10 * rate}, **extra})

    (reports / "gpu_scan_old.json").write_text(scan("Card A", 500.0))  # before the Triton conv: torchvision's
    (reports / "gpu_scan_new.json").write_text(scan("Card B (shared host)", 300.0, model_triton_deform="triton"))
    monkeypatch.setattr(bench_lifter, "PROJECT_ROOT", tmp_path)
    gpu = bench_lifter.gpu_figures()
    assert gpu["infer_frames_per_s_batch64_bf16_triton"] == 300.0 and gpu["triton_card"] == "Card B"
    assert gpu["triton_scan_with_torchvision_deform"]["gpu_scan_old"]["frames_per_s_batch64_bf16"] == 500.0
    assert bench_lifter.gpu_best(gpu) == (300.0, "Card B")
    report = {**SMALL, "benchmarks": {**SMALL["benchmarks"], "lifter": {"headline": {
        "gpu_frames_per_s": 300, "gpu_card": "Card B"}}}}
    assert "| 300 frames/s | goal: 200,000 frames/s (**not met**) | Card B, carried" in render(report)

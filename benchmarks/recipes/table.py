"""Collect the recipe runs of benchmarks/recipes/run.sh into benchmarks/results/mnist_recipes/.

    python benchmarks/recipes/table.py [RUNS_DIR]      (default runs/recipes)

Writes table.md and table.json (each finished run's final-epoch test accuracy, the last five epochs',
seconds per epoch, threads, machine) and copies each run's config, history, log and curves picture
(not its checkpoints). Unfinished runs are listed as such.
"""
from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "results" / "mnist_recipes"


def main(argv=None) -> int:
    runs = Path((argv or sys.argv[1:] or ["runs/recipes"])[0])
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for d in sorted(p for p in runs.iterdir() if p.is_dir() and (p / "history.json").is_file()):
        saved = json.loads((d / "history.json").read_text())
        cfg, history = saved["config"], saved["history"]
        done = (d / "done").exists() and len(history) == cfg["epochs"]
        rows.append({
            "run": d.name, "recipe": cfg.get("recipe", "?"), "seed": cfg["seed"], "finished": done,
            "epochs": len(history), "final_test_acc": history[-1]["test_acc"],
            "last5_test_acc": [r["test_acc"] for r in history[-5:]],
            "median_epoch_seconds": statistics.median(r["seconds"] for r in history),
            "schedule": cfg["schedule"], "augment": cfg["augment"], "machine": saved["machine"],
        })
        keep = OUT / d.name
        keep.mkdir(exist_ok=True)
        for name in ("config.json", "history.json", "curves.png", "misclassified.png"):
            if (d / name).is_file():
                shutil.copy2(d / name, keep / name)
        if (runs / f"{d.name}.log").is_file():
            shutil.copy2(runs / f"{d.name}.log", keep / "train.log")
    summary = {}
    for recipe in sorted({r["recipe"] for r in rows}):
        accs = [r["final_test_acc"] for r in rows if r["recipe"] == recipe and r["finished"]]
        if accs:
            summary[recipe] = {"runs": len(accs), "mean": statistics.mean(accs), "min": min(accs), "max": max(accs),
                               "spread": max(accs) - min(accs)}
    (OUT / "table.json").write_text(json.dumps({"runs": rows, "summary": summary}, indent=2) + "\n")
    lines = ["| run | recipe | seed | epochs | final test acc | last five epochs | s/epoch (median) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        last5 = ", ".join(f"{100 * a:.2f}" for a in r["last5_test_acc"])
        status = "" if r["finished"] else " (unfinished)"
        lines.append(f"| {r['run']} | {r['recipe']} | {r['seed']} | {r['epochs']}{status} | "
                     f"{100 * r['final_test_acc']:.2f}% | {last5} | {r['median_epoch_seconds']:.0f} |")
    lines.append("")
    for recipe, s in summary.items():
        lines.append(f"- **{recipe}**: {s['runs']} finished runs, final-epoch test accuracy mean "
                     f"{100 * s['mean']:.2f}%, min {100 * s['min']:.2f}%, max {100 * s['max']:.2f}%, "
                     f"spread {100 * s['spread']:.2f} points")
    if rows:
        m = rows[0]["machine"]
        lines.append(f"- machine: {m.get('device')}, {m.get('affinity', m.get('cpu_count'))} usable cores, "
                     f"backend {m.get('backend')}, {m.get('dtype')}, Python {m.get('python')}, NumPy {m.get('numpy')}")
    (OUT / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Tables of a translation study (scripts/study-thor.sh, scripts/study-distill.sh)
from its records.

    study_mt_tables.py RESULTS STUDY MOEKIT      # STUDY: thor-c3, thor-c4, thor-esen, distill

Reads RESULTS/STUDY/ARM-sSEED/{scores,results}.json, metrics.jsonl,
config.yaml and test.hyp.xz (written by scripts/study-mt-test.sh) and writes
RESULTS/STUDY/README.md (tables), table.csv (one row per run) and curves.csv
(validation loss per step). The pairs the study's claim names are compared by
a paired bootstrap (`moekit bleu --compare --chrf`) on the test sets of all
directions and all seeds both arms have, pooled. thor-c4 borrows THOR's runs
from thor-c3. Standard library only (plus PyYAML for the run configs).
"""
import csv
import json
import lzma
import os
import statistics
import subprocess
import sys
import tempfile

import yaml

THOR = {
    "title": "THOR study {study}", "script": "scripts/study-thor.sh {short}",
    "order": ["thor", "thor-a1", "thor-a0", "switch", "hash", "dense", "switch8", "hash8", "dense4x"],
    "labels": {
        "thor": "THOR (α = 5)", "thor-a1": "THOR α = 1", "thor-a0": "THOR α = 0 (one pass)",
        "switch": "Switch", "hash": "Hash", "dense": "dense", "switch8": "Switch, 8 experts",
        "hash8": "Hash, 8 experts", "dense4x": "dense, 4x FFN",
    },
    # (A, B): A against B in the paired bootstrap. THOR at α = 5 (the recipe) and
    # at α = 1 (the ablation that came out best in C3) against every baseline.
    "pairs": [("thor", "thor-a1")] +
             [(a, b) for a in ("thor", "thor-a1")
              for b in ["thor-a0", "switch", "hash", "dense", "switch8", "hash8", "dense4x"]],
}
DISTILL = {
    "title": "Dense → MoE distillation study", "script": "scripts/study-distill.sh",
    "order": ["teacher", "comet", "comet-ls", "hash", "topk", "hash-nodistill"],
    "labels": {
        "teacher": "dense teacher", "comet": "COMET (COMET-BERT)", "comet-ls": "COMET + LS",
        "hash": "Hash (MoEBERT)", "topk": "Top-1", "hash-nodistill": "Hash, no distillation",
    },
    "pairs": [("comet", "hash"), ("comet-ls", "hash"), ("topk", "hash"),
              ("hash", "hash-nodistill")],
}


def load_runs(folder):
    runs = {}
    if not os.path.isdir(folder):
        return runs
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not os.path.isfile(os.path.join(path, "scores.json")) or "-s" not in name:
            continue
        arm, seed = name.rsplit("-s", 1)
        with open(os.path.join(path, "scores.json")) as f:
            scores = json.load(f)
        with open(os.path.join(path, "results.json")) as f:
            results = json.load(f)
        with open(os.path.join(path, "config.yaml")) as f:
            config = yaml.safe_load(f)
        curve, speeds = [], []
        with open(os.path.join(path, "metrics.jsonl")) as f:
            for line in f:
                j = json.loads(line)
                if "valid_loss" in j:
                    curve.append((j["step"], j["valid_loss"]))
                if "tokens_per_s" in j and j["step"] > 10:  # the first window warms up
                    speeds.append(j["tokens_per_s"])
        runs[(arm, int(seed))] = {
            "path": path, "scores": scores, "results": results, "config": config,
            "curve": curve, "tokens_per_s": statistics.median(speeds) if speeds else float("nan"),
        }
    return runs


def mean_std(values):
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def average(scores, metric):
    return statistics.mean(v[metric] for v in scores.values())


def test_file(data_dir, src, tgt, lang):
    for pair in (f"{src}-{tgt}", f"{tgt}-{src}"):
        path = os.path.join(data_dir, f"test.{pair}.{lang}")
        if os.path.exists(path):
            return path
    return os.path.join(data_dir, f"test.{lang}")


def references(run):
    data = run["config"]["data"]
    lines = []
    for direction in data["directions"].split(","):
        src, tgt = direction.split("-")
        with open(test_file(data["dir"], src, tgt, tgt), encoding="utf-8") as f:
            # the verses decoded (all but in smoke tests, TEST_LINES)
            lines += f.read().splitlines()[:run["scores"][direction]["sentences"]]
    return lines


def hypotheses(run):
    with lzma.open(os.path.join(run["path"], "test.hyp.xz"), "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def bootstrap(moekit, runs, arm_a, arm_b):
    """`arm_a` (A) against `arm_b` (B), pooled over the seeds both have."""
    seeds = sorted(s for (a, s) in runs if a == arm_b and (arm_a, s) in runs)
    if not seeds:
        return None
    refs, hyp_a, hyp_b = [], [], []
    for s in seeds:
        refs += references(runs[(arm_a, s)])
        hyp_a += hypotheses(runs[(arm_a, s)])
        hyp_b += hypotheses(runs[(arm_b, s)])
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, lines in (("ref", refs), ("a", hyp_a), ("b", hyp_b)):
            paths.append(os.path.join(tmp, name))
            with open(paths[-1], "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        out = subprocess.run([moekit, "bleu", paths[0], paths[1], "--compare", paths[2], "--chrf"],
                             check=True, capture_output=True, text=True).stdout
    return seeds, len(refs), [line for line in out.splitlines() if ": A = " in line]


def sentences_per_s(scores):
    """Test sentences decoded per second (all directions; one thread), where timed."""
    seconds = sum(v.get("decode_seconds", float("nan")) for v in scores.values())
    return sum(v["sentences"] for v in scores.values()) / seconds


def main():
    results_dir, study, moekit = sys.argv[1], sys.argv[2], sys.argv[3]
    profile = DISTILL if study == "distill" else THOR
    ORDER, LABELS = profile["order"], profile["labels"]
    folder = os.path.join(results_dir, study)
    runs = load_runs(folder)
    if study == "thor-c4":
        runs.update({k: v for k, v in load_runs(os.path.join(results_dir, "thor-c3")).items()
                     if k[0] in ("thor", "thor-a1", "switch", "hash", "dense")})
    arms = [a for a in ORDER if any(k[0] == a for k in runs)]
    if not arms:
        return
    directions = next(iter(runs.values()))["config"]["data"]["directions"].split(",")

    with open(os.path.join(folder, "table.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arm", "seed", "avg_bleu", "avg_chrf", "best_valid_loss", "best_step", "steps",
                    "train_tokens_per_s", "train_seconds", "test_sentences_per_s"] +
                   [f"{d}_{m}" for d in directions for m in ("bleu", "chrf")])
        for (arm, seed), r in sorted(runs.items(), key=lambda kv: (ORDER.index(kv[0][0]), kv[0][1])):
            w.writerow([arm, seed, f"{average(r['scores'], 'bleu'):.2f}",
                        f"{average(r['scores'], 'chrf'):.2f}",
                        f"{r['results']['best_valid_loss']:.4f}", r["results"]["best_step"],
                        r["results"]["steps"], f"{r['tokens_per_s']:.0f}",
                        f"{r['results']['train_seconds']:.0f}",
                        f"{sentences_per_s(r['scores']):.2f}"] +
                       [f"{r['scores'][d][m]:.2f}" if d in r["scores"] else ""
                        for d in directions for m in ("bleu", "chrf")])
    with open(os.path.join(folder, "curves.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arm", "seed", "step", "valid_loss"])
        for (arm, seed), r in sorted(runs.items()):
            for step, loss in r["curve"]:
                w.writerow([arm, seed, step, f"{loss:.4f}"])

    def per_arm(arm):
        return [r for (a, _), r in sorted(runs.items()) if a == arm]

    short = study.replace("thor-", "")
    lines = [f"# {profile['title'].format(study=short)}: tables", "",
             "Written by `scripts/study_mt_tables.py` from the run records in this folder "
             f"(`{profile['script'].format(short=short)}`). Test = the Gospel of John in every "
             "direction; BLEU and chrF2 as sacreBLEU's defaults; mean ± sample std over seeds "
             "of the average over directions. Test sentences/s: all directions decoded one "
             "after the other, one thread, while another study process ran on the other core.",
             "", "| model | seeds | avg BLEU | avg chrF2 | best valid loss | best step / steps | "
             "train tokens/s | test sentences/s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for arm in arms:
        rs = per_arm(arm)
        lines.append(
            f"| {LABELS[arm]} | {len(rs)} | {mean_std([average(r['scores'], 'bleu') for r in rs])} | "
            f"{mean_std([average(r['scores'], 'chrf') for r in rs])} | "
            f"{statistics.mean(r['results']['best_valid_loss'] for r in rs):.3f} | "
            f"{'/'.join(str(r['results']['best_step']) for r in rs)} / {rs[0]['results']['steps']} | "
            f"{statistics.mean(r['tokens_per_s'] for r in rs):,.0f} | "
            f"{statistics.mean(sentences_per_s(r['scores']) for r in rs):.1f} |")
    for metric, name in (("bleu", "BLEU"), ("chrf", "chrF2")):
        lines += ["", f"Test {name} per direction (mean over seeds):", "",
                  "| direction | " + " | ".join(LABELS[a] for a in arms) + " |",
                  "|---|" + "---:|" * len(arms)]
        for d in directions:
            cells = []
            for arm in arms:
                vals = [r["scores"][d][metric] for r in per_arm(arm) if d in r["scores"]]
                cells.append(f"{statistics.mean(vals):.2f}" if vals else "–")
            lines.append(f"| {d} | " + " | ".join(cells) + " |")
    compared = [(a, b) for a, b in profile["pairs"] if a in arms and b in arms]
    if compared:
        lines += ["", "Paired bootstrap (1,000 resamples, seed 12345), all directions and the "
                      "seeds both have pooled:", ""]
    for arm_a, arm_b in compared:
        b = bootstrap(moekit, runs, arm_a, arm_b)
        if b is None:
            continue
        seeds, n, outs = b
        lines.append(f"* A = {LABELS[arm_a]}, B = {LABELS[arm_b]} (seeds "
                     f"{', '.join(map(str, seeds))}; {n:,} sentences):")
        lines += [f"  * {o}" for o in outs]
    lines += ["", "Validation loss by step (mean over seeds): `curves.csv`."]
    with open(os.path.join(folder, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""The "All results" page, like with like: runs pooled into configurations, configurations
grouped by training setting.

A chapter trains each configuration (a network and recipe, its ``variant``) with several
seeds; the page's unit is therefore the configuration, with ``mean ± 95 % (n)`` over its
finished seeds, not the single run. Accuracies are comparable only between runs that saw
the same data for as long at the same input, so every configuration belongs to a
*setting* — profile, training images, input side and epochs — and the tables are grouped
by it. Runs that a guard stopped, whose last epoch ended at chance (the test of
``guards.at_chance`` that ``ablations.mark_ended_at_chance`` applies inside a chapter, after
the run's JSON was written), or that never left chance (``guards.did_not_learn``), count as
stopped and stay out of the accuracy.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from ..guards import at_chance, did_not_learn
from ..history import History
from .stats import mean_ci

SETTING = ["profile", "train examples", "input", "epochs"]
CONFIG = ["chapter", "variant"]
_SEED_SUFFIX = re.compile(r"-s\d+$")
#: run names of timing probes (:mod:`.timing`): short runs timed alone, not accuracy results
PROBE_PREFIX = "timing_"


def is_probe(record: dict[str, Any]) -> bool:
    """Whether a stored run is a timing probe, which no accuracy table may list."""
    return str(record.get("run", "")).startswith(PROBE_PREFIX)


def variant_of(record: dict[str, Any]) -> str:
    """The configuration a run belongs to: its row's ``variant``, else the run's name without
    the ``-s<k>`` seed suffix that repeated runs carry."""
    row = record.get("row") or {}
    variant = row.get("variant")
    return str(variant) if variant else _SEED_SUFFIX.sub("", str(record.get("run", row.get("run", ""))))


def ended_at_chance(record: dict[str, Any], num_classes: int = 10) -> bool:
    """Whether the run's last epoch sat at loss ln C with chance accuracy (a dead run that no
    guard stopped: too short for the stall guard, or labelled only inside its chapter)."""
    epochs = record.get("records") or []
    last = epochs[-1] if epochs else None
    keys = ("train_loss", "train_acc", "test_acc")
    return bool(last) and all(k in last for k in keys) and at_chance(last, num_classes)


def never_learned(record: dict[str, Any], num_classes: int = 10) -> bool:
    """Whether the run never left chance (``guards.did_not_learn``: its loss stayed near
    ln C and its accuracy near chance for all of a run long enough to judge), unstopped."""
    if not record.get("records"):
        return False
    return did_not_learn(History.from_dict(record), num_classes) is not None


def configurations(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, chapter, variant): the runs pooled over seeds.

    ``runs`` is :func:`summary.runs_frame`'s table (with its ``variant`` and ``stopped``
    columns). Columns: the setting and configuration keys, ``model``, ``parameters``,
    ``GFLOPs``, ``runs``, ``stopped``, ``test acc`` and ``±`` (its 95 % half-width) and
    ``n`` over the finished runs, the same as text, and the mean ``s/epoch`` and
    ``examples/sec`` over every run that trained an epoch (stopped ones included)."""
    columns = [*SETTING, *CONFIG, "model", "parameters", "GFLOPs", "runs", "stopped",
               "test acc", "±", "n", "test acc (mean ± 95 %, n)", "s/epoch", "examples/sec"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for key, g in runs.groupby([*SETTING, *CONFIG], sort=False, dropna=False):
        done = g[~g["stopped"]]
        ci = mean_ci(done["last test acc"])
        rows.append({**dict(zip([*SETTING, *CONFIG], key)), "model": g["model"].iloc[0],
                     "parameters": g["parameters"].iloc[0], "GFLOPs": g["GFLOPs"].iloc[0],
                     "runs": len(g), "stopped": int(g["stopped"].sum()),
                     "test acc": ci.mean, "±": ci.half_width, "n": ci.n,
                     "test acc (mean ± 95 %, n)": ci.format(),
                     # a stopped run's epochs took real time: its seconds count too
                     "s/epoch": (g["seconds"] / g["epochs"]).mean(),
                     "examples/sec": g["examples/sec"].mean()})
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values([*SETTING, "test acc"], ascending=[True] * len(SETTING) + [False],
                             na_position="last").reset_index(drop=True)


def settings(configs: pd.DataFrame) -> pd.DataFrame:
    """One row per setting: how many configurations and chapters share it. Accuracies compare
    within a row of this table, never across rows."""
    if configs.empty:
        return pd.DataFrame(columns=[*SETTING, "configurations", "chapters", "runs"])
    g = configs.groupby(SETTING, sort=True, dropna=False)
    out = pd.DataFrame({"configurations": g.size(),
                        "chapters": g["chapter"].agg(lambda c: ", ".join(sorted(set(c)))),
                        "runs": g["runs"].sum()})
    return out.reset_index()


def best_per_model(configs: pd.DataFrame) -> pd.DataFrame:
    """Within each setting, each model's configuration with the highest mean test accuracy
    (configurations with no finished run left out, and timing probes, whose accuracy after a
    few batches is no result, whatever table they reach this from)."""
    probe = configs["variant"].astype(str).str.startswith(PROBE_PREFIX) if "variant" in configs else False
    done = configs[(configs["n"] > 0) & ~probe]
    if done.empty:
        return done
    idx = done.groupby([*SETTING, "model"], dropna=False)["test acc"].idxmax()
    return done.loc[idx].sort_values([*SETTING, "test acc"],
                                     ascending=[True] * len(SETTING) + [False]).reset_index(drop=True)


def editions(configs: pd.DataFrame) -> pd.DataFrame:
    """The same chapter configuration in each profile it ran in, side by side (e.g. the
    CPU's ``standard`` edition beside the GPU's ``full``): accuracy and setting per profile.
    Empty when no configuration ran in more than one profile."""
    if configs.empty:
        return pd.DataFrame()
    multi = configs.groupby(CONFIG)["profile"].transform("nunique") > 1
    if not multi.any():
        return pd.DataFrame()
    shown = configs[multi].assign(
        setting=lambda f: f["input"] + ", " + f["train examples"].map("{:,.0f} images".format)
        + ", " + f["epochs"].map("{:.0f} epochs".format))
    wide = shown.pivot_table(index=CONFIG, columns="profile",
                             values=["test acc (mean ± 95 %, n)", "setting"], aggfunc="first")
    return wide.swaplevel(axis=1).sort_index(axis=1)

"""Recipes: the YAML files users write, validated once into frozen dataclasses.

A recipe round-trips: :func:`dump_recipe` writes what :func:`load_recipe` reads, which is
how ``sttune export`` writes a fixed recipe that ``sttune train`` replays.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from sttune.errors import RecipeError
from sttune.files import FileSystemError, WriteError as WriteError, check_file, write_atomic
from sttune.recipe.schema import SchemaError, parse_dataclass, short, to_plain
from sttune.recipe.settings import Protocol, RungPolicy, TrainConfig

# dataset params that name files: resolved against the recipe's folder when relative
PATH_KEYS = frozenset({"path", "graph", "adjacency", "edges", "ids"})
# ``device_seconds`` is the trial's charged cost (cost_seconds: training plus the charged
# preparation); recipes may also write it ``cost_seconds`` (read as device_seconds, so the study
# and its stored identity stay the same)
Objective = Literal["val_mae", "device_seconds", "peak_memory"]
OBJECTIVE_ALIASES = {"cost_seconds": "device_seconds"}


@dataclass(frozen=True)
class DatasetBlock:
    """A data source: a ``sttune.datasets`` plugin and its params; ``id`` labels its study."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    @property
    def label(self) -> str:
        return self.id or self.name


@dataclass(frozen=True)
class ModelBlock:
    """The backbone: fixed (``name`` + ``params``) or searched among ``choices``."""

    name: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    choices: list[str] | None = None
    search_params: bool = False  # also search each model's own space()

    def validate(self, path: str) -> None:
        if (self.name is None) == (self.choices is None):
            raise SchemaError(path, "give exactly one of `name` or `choices`", "e.g. model: {name: stid}")
        if self.choices is not None and not self.choices:
            raise SchemaError(f"{path}.choices", "must list at least one model")
        if self.choices is not None and self.params:
            raise SchemaError(
                f"{path}.params", "fixed params apply to one model, not to `choices`",
                "drop params, or set search_params: true to search each model's own space",
            )


@dataclass(frozen=True)
class StrategyBlock:
    """A strategy: fixed ``params``; or searched through its space(), with ``fixed`` knobs held."""

    name: str
    params: dict[str, Any] | None = None
    fixed: dict[str, Any] = field(default_factory=dict)  # searched, but these knobs held

    def validate(self, path: str) -> None:
        if self.params is not None and self.fixed:
            raise SchemaError(f"{path}.fixed", "give `params` (nothing searched) or `fixed` (the rest searched), not both")


SelectionRule = Literal["fastest-within", "knee", "min-mae"]  # export.rule; sttune.outcome.select.RULE_TABLE implements each
SEED_LIMIT = 2**32 - 2**16  # samplers take 32-bit seeds; room left for one offset per worker (seed + index)


DEFAULT_BUDGET = 2.0  # full baselines a search spends when its recipe sets no limit (issue 34)
QUICK_BUDGET = 1.5  # the same for a quick search (search.quick): the baseline, one recommendation, the re-timing


@dataclass(frozen=True)
class SearchConfig:
    """The recipe's ``search`` block."""

    trials: int | None = None  # per dataset, baseline trials included; None: no count
    timeout_minutes: float | None = None  # per dataset
    # the search's device time in full baselines (5 = five full baseline trainings), the export's
    # re-timing included: no trial starts that would take it past; with `trials` too, whichever is
    # reached first stops it. A recipe that sets none of trials, budget, timeout_minutes gets
    # DEFAULT_BUDGET (QUICK_BUDGET with quick)
    budget: float | None = None
    max_consecutive_failures: int = 5  # this many failed trials in a row stop the search (exit 2)
    sampler: Literal["tpe", "nsga2", "gp", "random"] = "tpe"
    seed: int = 0
    storage: str | None = None  # Optuna storage URL; default: a journal file in the run folder
    objectives: list[Objective] = field(default_factory=lambda: ["val_mae", "device_seconds"])
    max_mae_increase: float | None = None  # constraint: val MAE ≤ (1 + this) × baseline's
    combine: bool = False  # may one trial use several strategies?
    baseline_ladder: list[float] = field(default_factory=lambda: [0.125, 0.25, 0.5, 0.75])
    # derived: each ladder rung is read off the full baseline's own validation curve (its first
    # fraction × epochs; no training, no cost to the search); trained: each rung trains the plain
    # model for that many epochs (its lr decays at its own milestones; docs/selection.md)
    ladder: Literal["derived", "trained"] = "derived"
    # baseline, recommended configurations and the export's re-timing only: no sampled trial
    quick: bool = False
    # skip a sampled candidate before it trains when its predicted cost cannot fit the budget or
    # cannot beat the cheapest trial within export.tolerance (sttune.tuning.predict)
    predict: bool = True
    # with the derived ladder: the recommendations run once the baseline has trained, at the shortest
    # ladder rung within export.tolerance of it (sttune.tuning.ladder.shortest_within), and strategy
    # trials also search the training length (train.fraction: a ladder fraction no shorter, or 1)
    shorten: bool = True
    early_stopping: RungPolicy = RungPolicy()
    # a trial whose whole job (config, training settings, seed) equals a finished trial's takes
    # that trial's result instead of training again; false: every trial trains
    reuse_results: bool = True
    # auto: a subprocess per trial when several workers run (--workers, sttune worker) or a
    # trial timeout is set; inline (in the searching process) for a plain single-process search
    isolation: Literal["auto", "subprocess", "inline"] = "auto"
    trial_timeout_minutes: float | None = None  # a trial running longer is killed ("hang")
    heartbeat_seconds: float = 10.0  # a running trial's worker proves it is alive this often
    stale_after_seconds: float = 120.0  # no heartbeat for this long: the trial is failed and retried

    def __post_init__(self) -> None:
        if self.trials is None and self.timeout_minutes is None and self.budget is None:
            object.__setattr__(self, "budget", QUICK_BUDGET if self.quick else DEFAULT_BUDGET)  # no limit given

    def validate(self, path: str) -> None:
        if self.trial_timeout_minutes is not None and self.trial_timeout_minutes <= 0:
            raise SchemaError(f"{path}.trial_timeout_minutes", f"must be positive, got {self.trial_timeout_minutes}")
        if self.heartbeat_seconds <= 0:
            raise SchemaError(f"{path}.heartbeat_seconds", f"must be positive, got {self.heartbeat_seconds}")
        if self.stale_after_seconds < 2 * self.heartbeat_seconds:
            raise SchemaError(f"{path}.stale_after_seconds", f"must be at least twice heartbeat_seconds, got {self.stale_after_seconds}",
                              "a trial is failed as stale only after several missed heartbeats")
        if self.budget is not None and not (math.isfinite(self.budget) and self.budget > 0):
            raise SchemaError(f"{path}.budget", f"must be a finite number above 0, got {self.budget}",
                              "e.g. budget: 5 = five times the full baseline's training")
        if not 0 <= self.seed < SEED_LIMIT:
            raise SchemaError(f"{path}.seed", f"must be from 0 to {SEED_LIMIT - 1}, got {self.seed}",
                              "the samplers take a 32-bit seed")
        if self.max_consecutive_failures < 1:
            raise SchemaError(f"{path}.max_consecutive_failures", f"must be at least 1, got {self.max_consecutive_failures}")
        if self.trials is not None and self.trials < 1:
            raise SchemaError(f"{path}.trials", f"must be at least 1, got {self.trials}")
        if self.timeout_minutes is not None and self.timeout_minutes <= 0:
            raise SchemaError(f"{path}.timeout_minutes", f"must be positive, got {self.timeout_minutes}")
        if self.objectives[:2] != ["val_mae", "device_seconds"] or len(set(self.objectives)) != len(self.objectives):
            raise SchemaError(
                f"{path}.objectives", f"got {self.objectives}",
                "start with [val_mae, device_seconds]; peak_memory may follow",
            )
        if self.max_mae_increase is not None and self.max_mae_increase < 0:
            raise SchemaError(f"{path}.max_mae_increase", "must be 0 or more (0.01 = 1%)")
        if any(not 0 < f < 1 for f in self.baseline_ladder):
            raise SchemaError(f"{path}.baseline_ladder", "fractions of train.epochs must lie in (0, 1)")


@dataclass(frozen=True)
class ExportConfig:
    """How the best trial is chosen from the Pareto front (see docs/selection.md)."""

    rule: SelectionRule = "fastest-within"
    tolerance: float = 0.01  # fastest-within: val MAE at most (1 + tolerance) × the best
    # interleaved batch pairs behind the exported speed-up (sttune.outcome.verify); 0 = off; None
    # (the default): 5% of the full baseline's training batches, 9 to 50
    verify_pairs: int | None = None

    def validate(self, path: str) -> None:
        if self.tolerance < 0:
            raise SchemaError(f"{path}.tolerance", "must be 0 or more (0.01 = 1%)")
        pairs = self.verify_pairs
        if pairs is not None and (not isinstance(pairs, int) or isinstance(pairs, bool) or not 0 <= pairs <= 50):
            raise SchemaError(f"{path}.verify_pairs", f"must be an integer from 0 to 50, got {pairs!r}",
                              "leave it out for the default (5% of the baseline's batches); 0 turns the re-timing off")


@dataclass(frozen=True)
class Recipe:
    """A whole recipe. ``sttune train`` uses the first dataset and the fixed parts."""

    datasets: list[DatasetBlock]
    model: ModelBlock
    protocol: Protocol = Protocol()
    train: TrainConfig = TrainConfig()
    strategies: list[StrategyBlock] = field(default_factory=list)
    search: SearchConfig = SearchConfig()
    export: ExportConfig = ExportConfig()
    name: str | None = None
    run_dir: str | None = None  # default: runs/<name> next to the working directory
    cache_dir: str | None = None  # default: .sttune-cache in the working directory

    def validate(self, path: str) -> None:
        if self.name is not None:
            check_name(self.name, "name")
        for i, block in enumerate(self.datasets):
            check_name(block.label, f"datasets[{i}].{'id' if block.id is not None else 'name'}")
        if not self.datasets:
            raise SchemaError("datasets", "must list at least one dataset")
        labels = [d.label for d in self.datasets]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise SchemaError("datasets", f"label '{dupes[0]}' is used twice", "give each an `id`")
        names = [s.name for s in self.strategies]
        if len(set(names)) != len(names):
            raise SchemaError("strategies", "a strategy is listed twice")


NAME_LIMIT = 100  # characters: names become file and folder names


def check_name(value: str, path: str) -> None:
    """A recipe or dataset name becomes a folder or file name (``runs/<name>``,
    ``best/<label>.yaml``): one plain name, never a path that leads elsewhere."""
    if not value.strip() or value in (".", "..") or "/" in value or "\\" in value or len(value) > NAME_LIMIT:
        raise SchemaError(path, f"{short(value)} is not a usable name",
                          f"use a plain name of up to {NAME_LIMIT} characters, without / or \\ (it names files and folders)")


@dataclass(frozen=True)
class LoadedRecipe:
    recipe: Recipe
    path: Path

    @property
    def name(self) -> str:
        return self.recipe.name or self.path.stem

    def run_dir(self, override: Path | None = None) -> Path:
        if override is not None:
            return override
        return Path(self.recipe.run_dir) if self.recipe.run_dir else Path("runs") / self.name

    def cache_dir(self) -> Path:
        return Path(self.recipe.cache_dir or os.environ.get("STTUNE_CACHE", ".sttune-cache"))


MAX_YAML_NODES = 100_000  # values in a recipe once its aliases are expanded: an alias bomb stops here


class _AliasError(yaml.YAMLError):
    """Aliases that expand without bound (a self-reference, an alias bomb)."""


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """How many values ``node`` stands for once every alias in it is expanded; a node that
    contains itself (``a: &x [*x]``) is an error, never an endless structure."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in open_nodes:
        raise _AliasError("an anchor refers to itself (&name ... *name inside it)")
    open_nodes.add(id(node))
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    total = 1
    for child in children:
        total += _expanded_size(child, sizes, open_nodes)
        if total > MAX_YAML_NODES:
            raise _AliasError(f"more than {MAX_YAML_NODES} values once its aliases are expanded (an alias bomb?)")
    open_nodes.discard(id(node))
    sizes[id(node)] = total
    return total


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` with the aliases bounded: the expanded document holds at most
    :data:`MAX_YAML_NODES` values and no anchor contains itself."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _read_yaml(path: Path) -> Any:
    try:
        check_file(path, "recipe file", RecipeError)
    except FileSystemError as exc:  # a name too long, a NUL character, permission
        raise RecipeError(exc.message, exc.hint) from None
    try:
        return parse_yaml(path.read_text())
    except RecursionError:
        raise RecipeError(f"{path}: the YAML nests too deeply", "flatten the recipe") from None
    except _AliasError as exc:
        raise RecipeError(f"{path}: {exc}", "write the values out instead of through aliases (*name)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise RecipeError(f"{path}: malformed YAML{where}: {problem}", "fix the YAML syntax") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read: {exc}", "check the file and its permissions") from None


def _resolve_paths(params: dict[str, Any], base: Path) -> dict[str, Any]:
    out = dict(params)
    for key in PATH_KEYS & out.keys():
        value = out[key]
        if isinstance(value, str) and not Path(value).expanduser().is_absolute():
            out[key] = str((base / value).resolve())
    return out


def load_recipe(path: str | Path, search: dict[str, Any] | None = None) -> LoadedRecipe:
    """Read and validate a recipe; errors name the file and the field path.

    ``search`` overrides keys of the recipe's ``search`` block (``sttune search --budget``)
    before it is validated. A ``budget`` without ``trials`` leaves the trial count open
    (``trials`` defaults to 20 only when no budget bounds the search)."""
    path = Path(path)
    raw = _read_yaml(path)
    if raw is None:
        raise RecipeError(f"{path} is empty", "see recipes/quickstart.yaml for a complete recipe")
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: the top level must be a mapping, not a {type(raw).__name__}", "see recipes/quickstart.yaml")
    block = raw.get("search")
    if (block is None or isinstance(block, dict)) and (search or (block and "budget" in block)):
        block = {**(block or {}), **(search or {})}
        if block.get("budget") is not None and "trials" not in block:
            block["trials"] = None
        raw = {**raw, "search": block}
    if isinstance(block, dict) and isinstance(block.get("objectives"), list):
        named = [OBJECTIVE_ALIASES.get(o, o) if isinstance(o, str) else o for o in block["objectives"]]
        raw = {**raw, "search": {**block, "objectives": named}}
    if "dataset" in raw:
        if "datasets" in raw:
            raise RecipeError(f"{path}: give `dataset` or `datasets`, not both")
        raw = {k: v for k, v in raw.items() if k != "dataset"} | {"datasets": [raw["dataset"]]}
    try:
        recipe = parse_dataclass(Recipe, raw)
    except SchemaError as exc:
        raise RecipeError(f"{path}: {exc.message}", exc.hint) from None
    base = path.resolve().parent
    datasets = [replace(d, params=_resolve_paths(d.params, base)) for d in recipe.datasets]
    return LoadedRecipe(replace(recipe, datasets=datasets), path)


def dump_recipe(recipe: Recipe, path: Path, header: str = "") -> None:
    """Write a recipe atomically (a crash never leaves a half-written file)."""
    plain = to_plain(recipe)
    plain["datasets"] = [{k: v for k, v in d.items() if v is not None} for d in plain["datasets"]]
    plain["model"] = {k: v for k, v in plain["model"].items() if v not in (None, False)}
    text = (header and "".join(f"# {line}\n" for line in header.splitlines())) + yaml.safe_dump(
        plain, sort_keys=False
    )
    write_atomic(path, text)

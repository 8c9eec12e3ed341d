"""What live /metrics output offers, and whether PromQL asks only for that.

A dump is the text of a real `/metrics` answer (Prometheus text format). The catalog keeps, for
every sample name, the label names seen on it. Prometheus adds `job` and `instance` to every
scraped series, and `up` is its own; the rest must be in a dump.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from .promql import Usage

TARGET_LABELS = frozenset({"job", "instance"})
PROMETHEUS_OWN = {
    "up": TARGET_LABELS,
    "scrape_duration_seconds": TARGET_LABELS,
    "scrape_samples_scraped": TARGET_LABELS,
}
_TYPE_LINE = re.compile(r"^#\s*TYPE\s+(\S+)\s+(\S+)")
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}


@dataclass
class Catalog:
    """Sample names with the label names seen on them, and the dump each came from."""

    labels: dict[str, set[str]] = field(default_factory=dict)
    sources: dict[str, set[str]] = field(default_factory=dict)
    # Families declared by a TYPE line with no sample: their names exist, their labels are unknown.
    declared_only: set[str] = field(default_factory=set)
    files: list[str] = field(default_factory=list)


def load(paths: list[Path]) -> tuple[Catalog, list[str]]:
    """Reads the dumps; returns the catalog and the problems found (unreadable, unparseable or
    empty dumps)."""
    catalog, problems = Catalog(), []
    for path in paths:
        catalog.files.append(str(path))
        try:
            text = Path(path).read_text()
        except OSError as error:
            problems.append(f"{path}: cannot read the /metrics dump: {error}")
            continue
        try:
            families = list(text_string_to_metric_families(text))
        except Exception as error:
            problems.append(f"{path}: not Prometheus text format: {error}")
            continue
        seen = 0
        for family in families:
            for sample in family.samples:
                catalog.labels.setdefault(sample.name, set()).update(sample.labels)
                catalog.sources.setdefault(sample.name, set()).add(str(path))
                seen += 1
        for line in text.splitlines():
            if m := _TYPE_LINE.match(line):
                name, kind = m.groups()
                for suffix in _SUFFIXES.get(kind, ("",)):
                    if name + suffix not in catalog.labels:
                        catalog.declared_only.add(name + suffix)
                        catalog.sources.setdefault(name + suffix, set()).add(str(path))
        if seen == 0:
            problems.append(f"{path}: no samples in this /metrics dump")
    catalog.declared_only -= set(catalog.labels)
    return catalog, problems


def usage_problems(usages: list[Usage], catalog: Catalog) -> list[str]:
    """Problems of PromQL against the catalog: a metric no dump exposes, a matcher on a label the
    metric does not have, a `by`/`on`/... label that none of the metrics under it has."""
    problems = []
    dumps = ", ".join(catalog.files) or "no dump"

    def labels_of(metric: str) -> set[str] | None:
        if metric in PROMETHEUS_OWN:
            return set(PROMETHEUS_OWN[metric])
        if metric in catalog.labels:
            return catalog.labels[metric] | TARGET_LABELS
        return None

    for usage in usages:
        for selector in usage.selectors:
            if selector.metric is None:
                problems.append(
                    f"{usage.where}: a selector without a literal metric name cannot be checked: {usage.expr!r}"
                )
                continue
            known = labels_of(selector.metric)
            if known is None:
                if selector.metric in catalog.declared_only:
                    if selector.labels - TARGET_LABELS:
                        problems.append(
                            f"{usage.where}: {selector.metric} has no samples in the dumps ({dumps}), "
                            f"so its labels {sorted(selector.labels - TARGET_LABELS)} cannot be checked; "
                            "dump /metrics after traffic that sets them"
                        )
                    continue
                problems.append(
                    f"{usage.where}: metric {selector.metric} is not exposed by any /metrics dump ({dumps})"
                )
                continue
            for label in sorted(selector.labels - known):
                problems.append(
                    f"{usage.where}: {selector.metric} has no label {label!r} in the dumps (it has {sorted(known)})"
                )
        for grouping in usage.groupings:
            under = [s for s in grouping.selectors if s.metric is not None]
            available, sampleless, unknown = set(TARGET_LABELS), set(), False
            for selector in under:
                if selector.metric in catalog.declared_only:
                    sampleless.add(selector.metric)
                elif (known := labels_of(selector.metric)) is None:
                    unknown = True  # reported with the selectors above
                else:
                    available |= known
            missing = sorted(grouping.labels - available)
            if not under or unknown or not missing:
                continue
            if sampleless:
                problems.append(
                    f"{usage.where}: `{grouping.clause}` names {missing}, which cannot be checked: "
                    f"{sorted(sampleless)} has no samples in the dumps ({dumps})"
                )
                continue
            names = sorted({s.metric for s in under})
            for label in missing:
                problems.append(
                    f"{usage.where}: `{grouping.clause}` names label {label!r}, which none of {names} has in the dumps"
                )
    return problems

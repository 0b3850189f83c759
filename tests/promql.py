"""promql.py -- the little PromQL reading the dashboard tests need: metric
names in an expression and the labels it groups by. Shared by
tests/agent/test_dashboard.py and tests/deploy/test_dashboard_labels.py."""
import re

PROMQL_WORDS = {
    "sum", "rate", "increase", "by", "without", "histogram_quantile", "min", "max", "avg",
    "count", "le", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
    "unless", "label_values", "topk", "bottomk", "irate", "delta", "deriv", "time", "vector",
    "clamp_min", "clamp_max", "abs", "sort", "sort_desc",
}


def metric_names(expr):
    """Metric names in a PromQL expression: identifiers not inside {...} or
    [...], not followed by '(' (functions), not PromQL keywords."""
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    stripped = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", stripped)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped):
        tok = m.group(0)
        rest = stripped[m.end():].lstrip()
        if rest.startswith("(") or tok in PROMQL_WORDS or tok.startswith("$"):
            continue
        if m.start() > 0 and stripped[m.start() - 1] == "$":
            continue
        names.add(tok)
    return names


def grouping_labels(expr):
    """The labels of every by (...) and without (...) clause."""
    return {lbl.strip() for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr)
            for lbl in group.split(",") if lbl.strip()}

"""promtext.py -- read Prometheus text exposition in tests with the
prometheus_client parser (a dependency of ray[default]), not a home-made one."""
from prometheus_client.parser import text_string_to_metric_families


def parse_prom(text):
    """[(sample name, {labels}, value)] for every sample in `text`."""
    return [(s.name, dict(s.labels), float(s.value))
            for fam in text_string_to_metric_families(text) for s in fam.samples]


def metric_value(text, name, **labels):
    """Value of the first sample `name{...}` in `text` whose labels include
    `labels` (compared as strings); None when there is none."""
    for n, got, v in parse_prom(text):
        if n == name and all(got.get(k) == str(val) for k, val in labels.items()):
            return v
    return None

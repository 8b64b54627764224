"""The registry trusts exactly the types that the candidates' fitted models need skops to trust:
a missing one makes MLflow refuse to save that candidate when it wins; a stale one trusts a
type no model of ours holds."""

import skops.io

from tests.conftest import synthetic_panel
from tickerpulse.features import FEATURES, add_targets, compute_features
from tickerpulse.forecasting.evaluation import modelling_rows
from tickerpulse.forecasting.models import CANDIDATES
from tickerpulse.stores.registry import TRUSTED_TYPES


def test_the_trust_list_is_what_the_candidates_need() -> None:
    panel = compute_features(synthetic_panel(("AAA", "BBB"), years=3))
    rows = modelling_rows(add_targets(panel, 1), FEATURES)
    inputs = rows[["ticker", *FEATURES]]
    needed = {
        name: set(
            skops.io.get_untrusted_types(
                data=skops.io.dumps(make_model(1).fit(inputs, rows["target"]))
            )
        )
        for name, make_model in CANDIDATES.items()
    }
    assert set().union(*needed.values()) == set(TRUSTED_TYPES), needed
    assert len(TRUSTED_TYPES) == len(set(TRUSTED_TYPES))

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.core.management.base import CommandError, CommandParser

from crm_scorecard.cli.base import ProductCommand
from crm_scorecard.clv import selectors, services
from crm_scorecard.metrics.api import refresh_mirror


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date; use YYYY-MM-DD") from None


class Command(ProductCommand):
    help = (
        "Customers as a whole: `value` fits the customer value models (BG/NBD for repeat "
        "purchases, Gamma-Gamma for spend) and stores every customer's prediction. An "
        "administrator's action: it reads and writes every department's customers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        value = sub.add_parser(
            "value",
            help="fit the value models on the orders up to the calibration end, check them "
            "on the orders after it, and store each customer's p_alive, expected purchases, "
            "expected value and value band (replacing the previous fit's)",
        )
        value.add_argument(
            "--calibration-end",
            type=parse_date,
            help="fit the orders up to this day (default: the last order's day); the orders "
            "after it are the holdout check",
        )
        value.add_argument(
            "--horizon-weeks",
            type=int,
            default=services.DEFAULT_HORIZON_WEEKS,
            help=f"weeks the expected purchases and value cover (default {services.DEFAULT_HORIZON_WEEKS})",
        )
        value.add_argument(
            "--discount-rate",
            type=float,
            default=services.DEFAULT_ANNUAL_DISCOUNT_RATE,
            help="annual discount rate of the expected value (default 0.10, i.e. 10%%)",
        )
        value.add_argument(
            "--at-risk-below",
            type=float,
            default=services.AT_RISK_P_ALIVE,
            help="a customer whose revenue so far is in the top 20%% is at risk when the "
            "probability they are still active falls below this (default 0.5)",
        )
        value.add_argument(
            "--json",
            action="store_true",
            help='print {"bg_nbd": {...}, "gamma_gamma": {...}, "customers": N, "holdout": {...}, ...}',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"do_{options['action']}")(options)

    def do_value(self, options: dict[str, Any]) -> None:
        fit = services.customer_values_fit(
            calibration_end=options["calibration_end"],
            horizon_weeks=options["horizon_weeks"],
            annual_discount_rate=options["discount_rate"],
            at_risk_below=options["at_risk_below"],
        )
        refresh_mirror()  # so the profile and `metrics show --by value_band` read the new bands
        summary = services.fit_summary(fit)
        summary["bands"] = selectors.band_counts(fit=fit)
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
            return
        self.stdout.write(self.text(summary))

    @staticmethod
    def text(s: dict[str, Any]) -> str:
        b, g = s["bg_nbd"], s["gamma_gamma"]
        lines = [
            f"Fitted on {s['customers']:,} customers ({s['repeat_customers']:,} repeat buyers), "
            f"orders up to {s['calibration_end']} ({s['seconds']:.2f} s)",
            f"  BG/NBD       r {b['r']:.4f}  alpha {b['alpha']:.4f}  a {b['a']:.4f}  b {b['b']:.4f}",
            f"  Gamma-Gamma  p {g['p']:.4f}  q {g['q']:.4f}  v {g['v']:.4f}",
            f"Predictions over {s['horizon_weeks']} weeks (discounted at "
            f"{s['annual_discount_rate']:.0%} a year), as of {s['data_end']}: "
            + ", ".join(f"{band} {n:,}" for band, n in s["bands"].items()),
        ]
        h = s["holdout"]
        if h is None:
            lines.append("No holdout check: no orders after the calibration end.")
        else:
            lines.append(
                f"Holdout {h['from']} to {h['to']} ({h['weeks']:.1f} weeks): repeat purchase "
                f"days per customer, predicted against actual"
            )
            lines.append(f"  {'frequency':>9}  {'customers':>9}  {'predicted':>9}  {'actual':>9}")
            for row in h["groups"]:
                lines.append(
                    f"  {row['frequency']:>9}  {row['customers']:>9,}  "
                    f"{row['predicted']:>9.3f}  {row['actual']:>9.3f}"
                )
            lines.append(
                f"  total predicted {h['predicted_total']:,.0f}, actual {h['actual_total']:,}; "
                f"mean absolute error {h['mae']:.3f} over groups, {h['customer_mae']:.3f} per customer"
            )
        return "\n".join(lines)

"""Deployment entrypoint: ``flows/fleet_report.py:fleet_report`` (logic in nornflow.flows)."""

from nornflow.flows.fleet_report import fleet_report

__all__ = ["fleet_report"]

if __name__ == "__main__":
    import sys

    fleet_report(window_days=float(sys.argv[1]) if len(sys.argv) > 1 else 7.0)

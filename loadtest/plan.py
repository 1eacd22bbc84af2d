"""`python -m loadtest.plan`: how many replicas, nodes and dollars for the traffic you expect (docs/plan.md).

    .venv/bin/python -m loadtest.plan --from reports/<time> --rps 50 --p95 500
    .venv/bin/python -m loadtest.plan --rps 50 --p95 500             # from the serving benchmark's figures
    .venv/bin/python -m loadtest.plan --from reports/<time> --rps 50 --p95 500 --rehearse

It reads a load test's report folder (capacity.py), plans (planning.py), prints the plan, the alternatives the price
table knows and the `pulumi config set` lines; with --rehearse it plays the plan's scaling on the local control plane.
Exit status: 0 a plan (and, rehearsed, it held), 1 rehearsed and it did not hold, 2 the plan could not be made.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from infra.cost import PRICES_AS_OF
from loadtest.capacity import Capacity, CapacityError, from_benchmark, from_run, levels
from loadtest.options import positive
from loadtest.planning import SSD_TOTAL_GB_DEFAULT, Plan, PlanError, Stack, alternatives, make_plan
from loadtest.target import DEFAULT_STACK, PROJECT_DIR, stack_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.plan",
        description="Turn a load test's measurements into a capacity plan: the replicas and nodes for a peak rate "
        "and a p95 objective, the stack settings that set them, what it costs an hour and per million "
        "predictions, and the quotas it needs. Every figure says where it comes from.",
        epilog="Exit status: 0 a plan (and, with --rehearse, it held), 1 rehearsed and it did not hold, "
        "2 no plan could be made (the reason in one line).",
    )
    parser.add_argument("--rps", type=positive(float), required=True, metavar="R", help="peak predictions a second")
    parser.add_argument(
        "--p95", type=positive(float), required=True, metavar="MS", help="p95 latency objective in milliseconds"
    )
    parser.add_argument(
        "--from",
        dest="folder",
        type=Path,
        metavar="REPORT_DIR",
        help="a load test's report folder, run with --watch (default: the serving benchmark's figures, "
        "measured on another CPU and without latencies under load)",
    )
    stack = parser.add_argument_group("the stack planned for")
    stack.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        help="stack whose settings the plan starts from; gpu plans T4 nodes, from a GPU stack's run (default: "
        "%(default)s)",
    )
    stack.add_argument("--machine-type", metavar="TYPE", help="serving machine type (default: the stack's)")
    stack.add_argument(
        "--spot", action=argparse.BooleanOptionalAction, help="Spot serving nodes, or not (default: the stack's)"
    )
    stack.add_argument(
        "--target",
        type=positive(int),
        metavar="PERCENT",
        help="HPA target CPU utilization without a run (default: the stack's targetCpuUtilization); a run's own "
        "target is used with --from",
    )
    parser.add_argument(
        "--rehearse",
        action="store_true",
        help="play the plan's scaling on the local control plane under a step load up to R (docs/rehearsal.md; "
        "about 10 minutes, building the tools first if missing)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (PROJECT_DIR / f"Pulumi.{args.stack}.yaml").is_file():
        return _refuse(f"--stack {args.stack}: there is no Pulumi.{args.stack}.yaml in {PROJECT_DIR}")
    if args.folder is not None and args.target is not None:
        return _refuse("--target: the run's timeline holds the HPA target it ran with; leave --target out with --from")
    values = stack_settings(args.stack)
    stack = Stack.from_settings(values, args.machine_type, args.spot)
    try:
        if args.folder is not None:
            capacity = from_run(args.folder, stack.cpu_request)
        elif stack.machine.accelerator:
            raise CapacityError(
                f"stack {args.stack} serves on {stack.machine.accelerator}, and the benchmark measured a CPU: "
                "give --from a load test's folder of a GPU stack"
            )
        else:
            capacity = from_benchmark(stack.cpu_request, args.target or int(str(values["targetCpuUtilization"])))
        plan = make_plan(capacity, args.rps, args.p95, stack)
    except (CapacityError, PlanError) as error:
        return _refuse(str(error))
    print(report(capacity, plan, stack, args.rps, args.p95, args.stack))
    if not args.rehearse:
        return 0
    # The local control plane's modules (the Pulumi engine among them) load only when a rehearsal is asked for.
    from loadtest.plan_rehearsal import rehearse

    return rehearse(plan, capacity, values, args.rps, args.stack)


def report(capacity: Capacity, plan: Plan, stack: Stack, rps: float, p95: float, stack_name: str) -> str:
    lines = [f"One replica ({stack.cpu_request} CPU, {stack.memory_request}), from {capacity.source}:"]
    rows = levels(capacity)
    if rows:
        lines.append("  requests/s a replica | CPU, % of request | median p95 | samples")
        for level in rows:
            latency = f"{level.median_p95_ms:.0f} ms" if level.median_p95_ms is not None else "-"
            lines.append(
                f"  {level.rps_per_replica:20.2f} | {level.cpu_percent:17.0f} | {latency:>10} | {level.samples:7d}"
            )
    lines.append(
        f"  at the HPA's {capacity.target_percent} % target: {capacity.rps_at_target:.2f} requests/s "
        f"({capacity.cpu_seconds_per_request:.3f} CPU-s a request)"
    )
    lines += [
        "",
        f"Plan for {rps:g} requests/s at p95 <= {p95:g} ms, stack {stack_name}, {plan.machine}:",
        f"  a replica at {plan.rate_per_replica:.2f} requests/s, limited by {plan.limited_by}",
        f"  {plan.replicas_at_peak} replicas at peak (maxReplicas); {plan.per_node} a node, so maxNodes "
        f"{plan.max_nodes}; {plan.min_nodes} node(s) at rest",
        f"  {_cost(plan)}; {PRICES_AS_OF}",
        f"  quotas at its largest: {_quotas(plan)}",
        "",
        "Alternatives the price table knows (the same rate a replica assumed on each machine type):",
        "  machine | a node holds | maxNodes | at rest $/h | at peak $/h | $ per million",
    ]
    for machine in alternatives(stack):
        try:
            other = make_plan(capacity, rps, p95, dataclasses.replace(stack, machine=machine))
        except PlanError:
            continue
        lines.append(
            f"  {machine} | {other.per_node} | {other.max_nodes} | {_usd(other.at_rest_usd)} | "
            f"{_usd(other.at_peak_usd)} | {_usd(other.per_million_usd)}"
        )
    lines += ["", f"Apply it to stack {stack_name}:"]
    lines += [
        f"  pulumi config set {key} {str(value).lower() if isinstance(value, bool) else value} --stack {stack_name}"
        for key, value in plan.settings.items()
    ]
    return "\n".join(lines)


def _cost(plan: Plan) -> str:
    if plan.at_peak_usd is None:
        return f"no cost: the price table lacks {plan.machine}"
    return (
        f"${plan.at_rest_usd:.2f} an hour at rest, ${plan.at_peak_usd:.2f} at peak, "
        f"${plan.per_million_usd:.2f} per million predictions at peak"
    )


def _quotas(plan: Plan) -> str:
    said = []
    for name, need in plan.quotas.items():
        above = name == "SSD_TOTAL_GB" and need > SSD_TOTAL_GB_DEFAULT
        said.append(f"{name} {need}" + (f" (above the {SSD_TOTAL_GB_DEFAULT} many new projects have)" if above else ""))
    return ", ".join(said)


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _refuse(message: str) -> int:
    print(f"python -m loadtest.plan: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

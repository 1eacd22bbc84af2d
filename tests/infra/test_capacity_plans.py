"""Every plan `python -m loadtest.plan` prints is one the stack accepts, and it costs what the stack would export."""

from __future__ import annotations

import pytest

from loadtest.capacity import from_benchmark
from loadtest.planning import Stack, make_plan
from loadtest.target import stack_settings
from tests.infra.harness import run_program, stack_config


@pytest.mark.parametrize(
    ("stack", "machine_type", "spot"), [("dev", None, None), ("dev", "n1-standard-8", True), ("prod", None, None)]
)
@pytest.mark.parametrize("rps", [1, 12, 75, 400])
def test_a_plan_passes_the_stacks_validation_and_costs_what_it_exports(stack, machine_type, spot, rps):
    values = stack_settings(stack)
    planned = Stack.from_settings(values, machine_type, spot)
    plan = make_plan(from_benchmark(planned.cpu_request, int(str(values["targetCpuUtilization"]))), rps, 500, planned)
    deployment = run_program(stack_config(stack, settings=plan.settings), stack=stack)
    hpa = deployment.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs["spec"]
    assert hpa["maxReplicas"] == plan.replicas_at_peak
    cost = deployment.outputs["estimatedCostPerHour"]
    assert (cost["atRestUsd"], cost["atFullScaleUsd"]) == (plan.at_rest_usd, plan.at_peak_usd)

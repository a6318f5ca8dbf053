"""Scaling behaviour: stabilisation windows and rate policies (Kubernetes' `normalizeDesiredReplicasWithBehaviors`).

Per autoscaler the controller keeps `History`: the recent raw recommendations and the recent scale events,
stamped with its own monotonic clock.

* **Stabilisation**: the recommendation is the current count moved towards the new one, but no higher than
  the highest recommendation of the scale-down window (default 300 s) and no lower than the lowest of the
  scale-up window (default 0 s): a brief dip does not scale down, a brief spike can be damped.
* **Rate policies**: `Pods` (add / remove at most N pods per period) and `Percent` (N % of the count at the
  period's start), combined by `selectPolicy` (`Max`: the policy allowing the most change, `Min`: the
  least, `Disabled`: none); defaults as the API defaults them (up: 4 pods or 100 % per 15 s, the larger;
  down: 100 % per 15 s).
* Then `minReplicas` / `maxReplicas` clamp the count, and the `ScalingLimited` condition says which limit bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from kybernetes.api.models.autoscaling_v2 import (
    HorizontalPodAutoscalerBehavior,
    HPAScalingPolicy,
    HPAScalingRules,
)

DEFAULT_DOWNSCALE_WINDOW = 300


@dataclass(frozen=True, slots=True)
class Rules:
    window: int
    select: str
    policies: tuple[tuple[str, int, int], ...]  # (type, value, period seconds)


@dataclass(slots=True)
class History:
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    scale_up_events: list[tuple[float, int]] = field(default_factory=list)
    scale_down_events: list[tuple[float, int]] = field(default_factory=list)


def _rules(rules: HPAScalingRules | None, *, window: int, policies: list[HPAScalingPolicy]) -> Rules:
    given = rules or HPAScalingRules()
    chosen = given.policies if given.policies else policies
    return Rules(
        window=given.stabilization_window_seconds if given.stabilization_window_seconds is not None else window,
        select=given.select_policy or "Max",
        policies=tuple((p.type or "Pods", p.value or 0, p.period_seconds or 15) for p in chosen),
    )


def scale_rules(behavior: HorizontalPodAutoscalerBehavior | None, *, downscale_window: int) -> tuple[Rules, Rules]:
    """(scale-up rules, scale-down rules) with the API's defaults filled in."""
    behavior = behavior or HorizontalPodAutoscalerBehavior()
    up = _rules(behavior.scale_up, window=0, policies=[
        HPAScalingPolicy(type="Pods", value=4, period_seconds=15),
        HPAScalingPolicy(type="Percent", value=100, period_seconds=15),
    ])
    down = _rules(behavior.scale_down, window=downscale_window, policies=[
        HPAScalingPolicy(type="Percent", value=100, period_seconds=15),
    ])
    return up, down


def stabilize(*, history: History, current: int, desired: int, up: Rules, down: Rules, now: float
              ) -> tuple[int, str, str]:
    """The stabilised recommendation and the AbleToScale reason/message; records `desired`."""
    up_rec = down_rec = desired
    up_cutoff, down_cutoff = now - up.window, now - down.window
    obsolete = now - max(up.window, down.window)
    old_index = -1
    for i, (when, replicas) in enumerate(history.recommendations):
        if when > up_cutoff:
            up_rec = min(up_rec, replicas)
        if when > down_cutoff:
            down_rec = max(down_rec, replicas)
        if when < obsolete:
            old_index = i
    recommendation = min(max(current, up_rec), down_rec)
    if old_index >= 0:
        history.recommendations[old_index] = (now, desired)
    else:
        history.recommendations.append((now, desired))
    if desired >= current:
        return recommendation, "ScaleUpStabilized", (
            "recent recommendations were lower than current one, applying the lowest recent recommendation")
    return recommendation, "ScaleDownStabilized", (
        "recent recommendations were higher than current one, applying the highest recent recommendation")


def _changed(events: list[tuple[float, int]], *, period: int, now: float) -> int:
    return sum(change for when, change in events if when > now - period)


def scale_up_limit(*, current: int, history: History, rules: Rules, now: float) -> int:
    if rules.select == "Disabled":
        return current
    proposals = []
    for kind, value, period in rules.policies:
        start = (current - _changed(history.scale_up_events, period=period, now=now)
                 + _changed(history.scale_down_events, period=period, now=now))
        proposals.append(start + value if kind == "Pods" else math.ceil(start * (1 + value / 100)))
    if not proposals:
        return current
    return min(proposals) if rules.select == "Min" else max(proposals)


def scale_down_limit(*, current: int, history: History, rules: Rules, now: float) -> int:
    if rules.select == "Disabled":
        return current
    proposals = []
    for kind, value, period in rules.policies:
        start = (current - _changed(history.scale_up_events, period=period, now=now)
                 + _changed(history.scale_down_events, period=period, now=now))
        proposals.append(start - value if kind == "Pods" else int(start * (1 - value / 100)))
    if not proposals:
        return current
    return max(proposals) if rules.select == "Min" else min(proposals)


def limit_rate(*, history: History, current: int, desired: int, minimum: int, maximum: int, up: Rules,
               down: Rules, now: float) -> tuple[int, str, str]:
    """The count after rate policies and min/max, and the ScalingLimited reason/message."""
    if desired > current:
        limit = max(scale_up_limit(current=current, history=history, rules=up, now=now), current)
        if maximum > limit:
            allowed, reason, message = limit, "ScaleUpLimit", (
                "the desired replica count is increasing faster than the maximum scale rate")
        else:
            allowed, reason, message = maximum, "TooManyReplicas", (
                "the desired replica count is more than the maximum replica count")
        if desired > allowed:
            return allowed, reason, message
    elif desired < current:
        limit = min(scale_down_limit(current=current, history=history, rules=down, now=now), current)
        if minimum < limit:
            allowed, reason, message = limit, "ScaleDownLimit", (
                "the desired replica count is decreasing faster than the maximum scale rate")
        else:
            allowed, reason, message = minimum, "TooFewReplicas", (
                "the desired replica count is less than the minimum replica count")
        if desired < allowed:
            return allowed, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def record_scale(*, history: History, previous: int, new: int, up: Rules, down: Rules, now: float) -> None:
    """Remember a rescale for the rate policies, dropping events older than the longest period."""
    longest = max([p[2] for p in up.policies + down.policies] or [15])
    history.scale_up_events = [e for e in history.scale_up_events if e[0] > now - longest]
    history.scale_down_events = [e for e in history.scale_down_events if e[0] > now - longest]
    if new > previous:
        history.scale_up_events.append((now, new - previous))
    elif new < previous:
        history.scale_down_events.append((now, previous - new))

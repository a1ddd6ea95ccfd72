"""Base traffic: archetype-driven usage with the default business-hour and weekend effects."""

from __future__ import annotations

from dataclasses import dataclass

from generator.scenario import Scenario


@dataclass(frozen=True)
class BaseTraffic(Scenario):
    name = "base_traffic"
    summary = "archetype-driven usage with business-hour and weekend effects"
    share: float = 2.0  # the largest slice: the reference every other pattern departs from


SCENARIO = BaseTraffic()

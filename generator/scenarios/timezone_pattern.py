"""Timezone pattern: customers around the world, each peaking 9-17 in their own time zone."""

from __future__ import annotations

from dataclasses import dataclass

from generator.scenario import Scenario


@dataclass(frozen=True)
class TimezonePattern(Scenario):
    name = "timezone_pattern"
    summary = "US-East 30 %, US-West 20 %, London 15 %, Paris 10 %, Tokyo 15 %, Kolkata 10 %, each peaking 9-17 local"
    #: (first local hour, end local hour, share of the day's calls inside)
    profile: tuple = (9, 17, 0.80)


SCENARIO = TimezonePattern()

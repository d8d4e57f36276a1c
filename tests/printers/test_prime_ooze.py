"""The simulated printer loses a start volume after heating (a filament nozzle's ooze, a
syringe's pressure build-up): without a prime line the plate's first tablet is short by it on
the simulated balance; with the prime line it weighs as the others."""

from __future__ import annotations

import pytest

from benchmarks.prime_first_tablet import CASES, plate_of, weigh_first_tablet
from printers.program import GcodeProgram
from printers.sim_balance import masses_of

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("process", ["fdm", "sse"])
def test_without_a_prime_the_first_tablet_is_short_by_the_start_loss(process: str) -> None:
    weighed = weigh_first_tablet(process, units=3, primed=False)
    plate, _, _ = plate_of(process, 3, primed=False)
    volume = plate.tablets[0].gcode_volume_mm3
    loss = CASES[process][4]
    assert weighed.others == pytest.approx(100.0, abs=0.5)
    expected = weighed.contents_percent[1] * (1 - loss / volume)
    assert weighed.first == pytest.approx(expected, abs=0.05)
    assert weighed.first < weighed.others - 5.0  # 3 mm³ of 41, 8 mm³ of 45: well short


@pytest.mark.parametrize("process", ["fdm", "sse"])
def test_with_the_prime_the_first_tablet_weighs_as_the_others(process: str) -> None:
    weighed = weigh_first_tablet(process, units=3, primed=True)
    assert weighed.first == pytest.approx(weighed.others, abs=0.05)
    assert weighed.others == pytest.approx(100.0, abs=0.5)


def test_a_prime_smaller_than_the_loss_leaves_the_first_tablet_short_by_the_rest() -> None:
    # the FDM prime line holds 8 mm³: a 10 mm³ ooze leaves 2 mm³ for the first tablet
    weighed = weigh_first_tablet("fdm", units=2, primed=True, loss_mm3=10.0)
    plate, _, _ = plate_of("fdm", 2, primed=True)
    short = (10.0 - plate.prime_volume_mm3) / plate.tablets[0].gcode_volume_mm3
    expected = weighed.contents_percent[1] * (1 - short)
    assert weighed.first == pytest.approx(expected, abs=0.05)


def test_the_start_loss_is_taken_from_the_first_extrusion_after_each_heat_up(make_sim) -> None:
    printer = make_sim(start_loss_e=0.5)
    text = (
        "M104 S200\nM83\nM486 S0\nG1 X1 E-1\nG1 X2 E1\nG1 X3 E2\nM486 S-1\n"  # 2 E, 0.5 lost
        "M486 S1\nG1 X4 E1\nM486 S-1\n"  # all of it laid
        "M104 S200\nM486 S2\nG1 X5 E0.25\nG1 X6 E1\nM486 S-1\n"  # heated again: 0.5 lost
    )
    assert printer.stream(GcodeProgram.from_text(text)).complete
    sim = printer.firmware_side
    assert sim.wait_until_idle(10.0)
    assert sim.extruded_e == {0: pytest.approx(1.5), 1: pytest.approx(1.0), 2: pytest.approx(0.75)}


def test_the_balance_weighs_only_the_labels_asked_for() -> None:
    # a prime line is object n after n tablets: on no balance
    assert masses_of({0: 1.0, 1: 2.0, 2: 5.0, -1: 9.0}, 3.0, labels=range(2)) == [3.0, 6.0]
    assert masses_of({0: 1.0, 2: 5.0}, 1.0, labels=[0, 1, 2]) == [1.0, 0.0, 5.0]

"""The calibration loop that closes: a simulated printer with a +4 % flow error, weighed by a
simulated balance on a pty, brought within ±1 % of label by a factor fitted from released
batches (R² ≥ 0.99), proposed by one pharmacist and approved by a second with her password
and a reason; later batches are designed with it and their record names it."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import calibration_loop as loop
from dosing.calibration import propose_factor
from dosing.errors import CalibrationRejected
from printers.sim_balance import SimBalance, masses_of
from printmed.auth.users import AuthenticationFailed, NotPermitted, get_user
from printmed.cli import main
from printmed.errors import InputError
from printmed.jobs import calibration
from printmed.records import calibration as approvals
from printmed.records.balance import read_weights
from printmed.records.errors import BalanceError
from printmed.records.signatures import admit_signer
from printmed.settings import Settings, load_settings
from printmed.store import Store

DENSITY = 1.25  # g/cm³ = mg/mm³, the propranolol-pva-10 lot's


@pytest.fixture
def loop_settings(tmp_path: Path) -> Settings:
    return load_settings({"PRINTMED_DATA_DIR": str(tmp_path)})


@pytest.fixture
def staffed(store: Store) -> Store:
    loop.add_staff(store)
    return store


def test_a_4_percent_flow_error_is_within_1_percent_from_the_third_batch(
    staffed: Store, loop_settings: Settings
) -> None:
    figures = loop.run(staffed, loop_settings, batches=4, flow_error=0.04, noise_mg=0.3)
    means = [f.mean_content_percent for f in figures]
    # before: the lot's own factor (1.0), 4 % over label
    assert [f.factor for f in figures[:2]] == [1.0, 1.0]
    assert all(103.0 < m < 105.0 for m in means[:2]), means
    # after batch 1 one volume only (no slope: nothing proposed); after batch 2 the fit
    assert figures[0].approved_factor is None
    assert figures[1].approved_factor == pytest.approx(1.04, abs=0.005)
    # after: designed with the approved factor, within ±1 % of label, every unit too
    assert [f.factor for f in figures[2:]] == [figures[1].approved_factor] * 2
    assert all(99.0 <= m <= 101.0 for m in means[2:]), means
    assert all(99.0 <= c <= 101.0 for f in figures[2:] for c in f.contents_percent)
    with staffed.session() as session:
        found = calibration.approved(session, "PVA-PRL-2611-A", loop.PRINTER, loop.PROFILE)
        assert found is not None and (found.proposed_by, found.decided_by) == ("paula", "peter")
        assert found.approval_signature is not None and len(found.approval_signature) == 128
        assert found.approval_sha256 == approvals.approval_sha256(found)


@pytest.fixture
def two_released(staffed: Store) -> Iterator[Store]:
    """Two released batches of different doses from a +4 % printer, weighed on the balance."""
    loop.released_batches(staffed, (1, 2), units=4, flow_error=0.04, seed=3)
    yield staffed


def _propose(store: Store, settings: Settings, who: str = "paula") -> int:
    with store.session() as session:
        row = calibration.propose(
            session, get_user(session, who), loop.FORMULATION, loop.PRINTER, loop.PROFILE, settings
        )
        assert row is not None
        return row.id


def test_the_proposer_may_not_approve_and_nothing_changes(
    two_released: Store, loop_settings: Settings
) -> None:
    proposal = _propose(two_released, loop_settings)
    signer = loop._signer(two_released, "paula", approvals.APPROVAL_MEANING)
    with pytest.raises(NotPermitted, match="they proposed it"), two_released.session() as s:
        approvals.approve(s, proposal, signer, "looks right")
    with two_released.session() as session:
        assert calibration.get(session, proposal).status == "proposed"
        assert calibration.factor_for(session, loop.FORMULATION, loop.PRINTER, loop.PROFILE) is None


def test_approval_needs_a_reason_and_the_right_password(
    two_released: Store, loop_settings: Settings
) -> None:
    proposal = _propose(two_released, loop_settings)
    signer = loop._signer(two_released, "peter", approvals.APPROVAL_MEANING)
    with pytest.raises(InputError, match=r"^reason"), two_released.session() as session:
        approvals.approve(session, proposal, signer, "  ")
    with pytest.raises(AuthenticationFailed):
        admit_signer(
            two_released,
            loop_settings.sign_in,
            "peter",
            "not his password",
            approvals.APPROVAL_MEANING,
            address="bench",
            channel="cli",
        )
    with two_released.session() as session:
        assert calibration.get(session, proposal).status == "proposed"


def test_a_technician_may_not_approve(two_released: Store, loop_settings: Settings) -> None:
    proposal = _propose(two_released, loop_settings, who="tina")
    with pytest.raises(NotPermitted), two_released.session() as session:
        approvals.decline(session, proposal, get_user(session, "theo"), "not convinced")


def test_a_declined_proposal_leaves_the_factor_in_use(
    two_released: Store, loop_settings: Settings
) -> None:
    proposal = _propose(two_released, loop_settings)
    with two_released.session() as session:
        approvals.decline(session, proposal, get_user(session, "peter"), "balance not verified")
    with two_released.session() as session:
        assert calibration.get(session, proposal).status == "declined"
        assert calibration.factor_for(session, loop.FORMULATION, loop.PRINTER, loop.PROFILE) is None


def test_a_factor_within_the_margin_is_not_proposed() -> None:
    volumes = [80.0, 80.0, 120.0, 120.0, 160.0, 160.0]
    masses = [v * DENSITY * 1.003 for v in volumes]  # 0.3 % over: inside 0.5 %
    assert (
        propose_factor(
            volumes, masses, density_g_cm3=DENSITY, factor_in_use=1.0, margin_percent=0.5
        )
        is None
    )


def test_a_fit_below_r_squared_0_99_proposes_nothing() -> None:
    volumes = [80.0, 120.0, 160.0, 80.0, 120.0, 160.0]
    masses = [100.0, 200.0, 150.0, 140.0, 110.0, 210.0]
    with pytest.raises(CalibrationRejected, match=r"^r_squared: .* is below 0\.99$"):
        propose_factor(
            volumes, masses, density_g_cm3=DENSITY, factor_in_use=1.0, margin_percent=0.5
        )


@settings(max_examples=50, deadline=None)
@given(
    flow=st.floats(-0.2, 0.3),
    in_use=st.floats(0.8, 1.2),
    volumes=st.lists(st.floats(20, 600), min_size=3, max_size=12, unique=True),
)
def test_the_proposed_factor_is_printed_mass_per_programmed_volume_over_density(
    flow: float, in_use: float, volumes: list[float]
) -> None:
    if max(volumes) - min(volumes) < 1:
        return
    masses = [v * DENSITY * (1 + flow) for v in volumes]
    proposal = propose_factor(
        volumes, masses, density_g_cm3=DENSITY, factor_in_use=in_use, margin_percent=0.5
    )
    if abs((1 + flow) / in_use - 1) * 100 <= 0.5 - 1e-6:
        assert proposal is None
    elif proposal is not None:
        assert proposal.factor == pytest.approx(1 + flow, rel=1e-6)
        assert proposal.off_percent == pytest.approx(((1 + flow) / in_use - 1) * 100, rel=1e-5)


def test_the_simulated_balance_answers_each_request_with_the_unit_on_the_pan() -> None:
    with SimBalance(noise_sd_mg=0.0) as balance:
        balance.load(masses_of({-1: 5.0, 0: 40.0, 1: 41.0}, mg_per_e=3.0))
        assert read_weights(balance.port, 2, request=True, unit_timeout_s=5) == [
            pytest.approx(120.0),
            pytest.approx(123.0),
        ]


def test_the_simulated_balance_refuses_a_request_with_an_empty_pan() -> None:
    with SimBalance() as balance, pytest.raises(BalanceError, match="'S I' reported an error"):
        read_weights(balance.port, 1, request=True, unit_timeout_s=5)


def test_threads_of_the_loop_are_gone_after_it(staffed: Store, loop_settings: Settings) -> None:
    before = {t.name for t in threading.enumerate()}
    loop.run(staffed, loop_settings, batches=1, flow_error=0.0, noise_mg=0.0, units=2)
    assert "sim-balance" not in {t.name for t in threading.enumerate()} - before


def _cli(monkeypatch: pytest.MonkeyPatch, folder: Path, user: str, *argv: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(loop.PASSWORDS[user][1] + "\n"))
    return main([*argv, "--user", user, "--password-stdin", "--data-dir", str(folder)])


def test_propose_and_approve_on_the_command_line_with_four_eyes(
    two_released: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    where = ("--printer", loop.PRINTER, "--profile", loop.PROFILE)
    assert _cli(monkeypatch, tmp_path, "paula", "lots", "propose", "PVA-PRL-2611-A", *where) == 0
    proposed = capsys.readouterr().out
    assert proposed.startswith("calibration 1 proposed: PVA-PRL-2611-A on sim-cal factor 1.0000")
    approve = ("lots", "approve", "1", "--reason", "fit R² 0.999 on 8 units")
    assert _cli(monkeypatch, tmp_path, "paula", *approve) == 2
    assert "may not approve calibration 1: they proposed it" in capsys.readouterr().err
    assert _cli(monkeypatch, tmp_path, "peter", *approve) == 0
    assert "calibration 1 approved: PVA-PRL-2611-A on sim-cal 1.04" in capsys.readouterr().out
    with two_released.session() as session:
        factor = calibration.factor_for(session, loop.FORMULATION, loop.PRINTER, loop.PROFILE)
    assert factor == pytest.approx(1.04, abs=0.006)

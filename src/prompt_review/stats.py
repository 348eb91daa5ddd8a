"""The gate's statistics: an exact paired sign-flip test, Holm's correction, bounds, power.

Pure numpy, no random numbers: the same differences give the same numbers whatever
their order, on every machine.

*The test.* Examples are paired by id; ``d = candidate - production`` per example
(already averaged over the samples when ``evaluation.repeats > 1``). If the change did
nothing, each pair is as likely to come out one way round as the other, so each ``d`` is
as likely positive as negative: the observed sum is ranked among the sums of all
``2^n`` sign flips. That distribution is computed exactly, not sampled, from its
characteristic function ``prod(cos(w * |d_i|))`` with one FFT, once the magnitudes sit
on an integer lattice. Scores that are 0/1, integers or averages of k of them are on one
already (step 1/k, 1, ...); other values are rounded to ``LEVELS`` steps of the largest
magnitude first (fewer, down to ``MIN_LEVELS``, when a very large dataset would make the
FFT exceed ``CELLS``), which keeps the test exact for the rounded differences: rounding a
magnitude does not break the symmetry the test rests on. Sums beyond ``TAIL_SDS``
standard deviations carry less than 3e-14 of probability and are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]

LEVELS = 64  # the most distinct magnitudes the lattice keeps
MIN_LEVELS = 16  # the coarsest rounding used to bound the work on very large datasets
CELLS = 1 << 20  # magnitudes x frequencies the characteristic function may take
TAIL_SDS = 8  # Hoeffding: P(|S| > 8 sd) < 2 exp(-32) < 3e-14
POWER = 0.8  # the power at which the detectable drop is stated
_Z_POWER = NormalDist().inv_cdf(POWER)
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class SignFlip:
    """The exact sign-flip distribution of one scorer's paired differences.

    ``observed`` and the distribution are in lattice units of ``unit``; ``cdf[i]`` is
    ``P(S <= i - width)``.
    """

    n: int  # paired examples, zero differences included
    unit: float
    observed: int
    width: int
    cdf: Floats

    @property
    def mean(self) -> float:
        """The mean difference the test ranks (the raw mean, up to the lattice rounding)."""
        return self.observed * self.unit / self.n if self.n else 0.0

    def p_worse(self) -> float:
        """One-sided p-value that a drop this large (or larger) is chance."""
        return self._at_most(self.observed)

    def p_better(self) -> float:
        """One-sided p-value that a gain this large (or larger) is chance."""
        return self._at_most(-self.observed)  # the distribution is symmetric

    def margin(self, level: float) -> float:
        """How far chance alone moves the mean at one-sided ``level``: ``-quantile(level)``.

        ``mean + margin < 0`` exactly when ``p_worse() < level``, and ``mean - margin > 0``
        exactly when ``p_better() < level``: an interval built from it agrees with the test.
        """
        return -self._quantile(level) * self.unit / self.n if self.n else 0.0

    def _at_most(self, s: int) -> float:
        if s < -self.width:
            return 0.0
        if s >= self.width:
            return 1.0
        return float(self.cdf[s + self.width])

    def _quantile(self, level: float) -> int:
        """The smallest lattice sum ``s`` with ``P(S <= s) >= level``."""
        index = int(np.searchsorted(self.cdf, level, side="left"))
        return min(index, 2 * self.width) - self.width


def sign_flip(deltas: npt.ArrayLike) -> SignFlip:
    """The sign-flip null distribution of ``sum(deltas)`` and where the observed sum falls."""
    d = np.sort(np.asarray(deltas, dtype=np.float64))  # sorted: order cannot matter
    n = len(d)
    magnitudes = np.abs(d)
    steps, unit = lattice(magnitudes)
    while True:
        counts = np.bincount(steps, minlength=1)[1:]  # counts[j - 1]: magnitudes of j steps
        j = np.arange(1, len(counts) + 1)
        total = int(np.dot(j, counts))
        if total == 0:
            return SignFlip(n=n, unit=unit, observed=0, width=0, cdf=np.ones(1))
        width = min(total, math.ceil(TAIL_SDS * math.sqrt(float(np.dot(j**2, counts)))) + len(j))
        cells = np.count_nonzero(counts) * (1 << (2 * width).bit_length()) // 2
        if cells <= CELLS or len(counts) <= MIN_LEVELS:
            break
        # Very many distinct magnitudes on a very large dataset: round more coarsely.
        unit = float(magnitudes.max()) / (len(counts) // 2)
        steps = np.round(magnitudes / unit).astype(np.int64)
    observed = int(np.sum(np.sign(d).astype(np.int64) * steps))
    return SignFlip(n=n, unit=unit, observed=observed, width=width, cdf=_cdf(counts, width))


def lattice(magnitudes: Floats) -> tuple[npt.NDArray[np.int64], float]:
    """Integer steps and the step size: the data's own lattice if it has a small one.

    Tries steps of ``max / j`` for ``j = 1 .. LEVELS`` (1/k averages, integer judges,
    decimals) and takes the coarsest that fits every magnitude; otherwise rounds to
    ``LEVELS`` steps of the largest magnitude.
    """
    top = float(magnitudes.max()) if len(magnitudes) else 0.0
    if top == 0.0:
        return np.zeros(len(magnitudes), dtype=np.int64), 1.0
    distinct = np.unique(magnitudes[magnitudes > 0]) / top
    levels = np.arange(1, LEVELS + 1, dtype=np.float64)
    scaled = distinct[None, :] * levels[:, None]
    fits = np.all(np.abs(scaled - np.round(scaled)) <= _TOLERANCE * levels[:, None], axis=1)
    j = int(np.argmax(fits)) + 1 if fits.any() else LEVELS
    unit = top / j
    return np.round(magnitudes / unit).astype(np.int64), unit


def _cdf(counts: npt.NDArray[np.int64], width: int) -> Floats:
    """``P(S <= s)`` for ``s = -width .. width``, S the sum of ``±j`` over the counts."""
    size = 1 << (2 * width).bit_length()  # > 2 * width: the kept sums do not wrap
    omega = 2 * np.pi * np.arange(size // 2 + 1) / size
    present = np.flatnonzero(counts)
    weights = counts[present].astype(np.float64)  # float: the products below run in BLAS
    cos = _cosines(omega, len(counts))[present]  # row j - 1: cos(j * omega)
    with np.errstate(divide="ignore"):
        log_abs = weights @ np.log(np.abs(cos))
    negative = np.rint(weights @ (cos < 0).astype(np.float64)).astype(np.int64)
    phi = np.exp(log_abs) * np.where(negative % 2, -1.0, 1.0)
    pmf = np.fft.irfft(phi, n=size)
    window = np.concatenate([pmf[size - width :], pmf[: width + 1]])
    cdf = np.maximum.accumulate(np.cumsum(np.clip(window, 0.0, None)))
    return np.clip(cdf, 0.0, 1.0)


def _cosines(omega: Floats, top: int) -> Floats:
    """``cos(j * omega)`` for ``j = 1 .. top`` by Chebyshev's recurrence (cheaper than cos)."""
    rows = np.empty((top, len(omega)))
    rows[0] = np.cos(omega)
    if top > 1:
        rows[1] = 2 * rows[0] * rows[0] - 1
    for j in range(2, top):
        np.multiply(rows[0], rows[j - 1], out=rows[j])
        rows[j] *= 2
        rows[j] -= rows[j - 2]
    return rows


def holm(p_values: npt.ArrayLike) -> Floats:
    """Holm's step-down adjusted p-values: family-wise error at most alpha, any dependence."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    return adjusted


def holm_levels(p_values: npt.ArrayLike, alpha: float) -> Floats:
    """The level each hypothesis is tested at by Holm: ``p < level`` iff ``adjusted < alpha``.

    ``alpha / (m - rank)`` when the steps before it all rejected; lower when an earlier step
    forces the adjusted value up. Between ``alpha / m`` and ``alpha``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    adjusted = holm(p)
    rank = np.empty(m, dtype=np.int64)
    rank[np.argsort(p, kind="stable")] = np.arange(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        levels = np.where(p > 0, alpha * p / adjusted, alpha / (m - rank))
    return np.clip(levels, alpha / max(m, 1), alpha)


def min_detectable_pairs(alpha: float) -> int:
    """Fewest paired examples for which "all of them got worse" is significant at ``alpha``."""
    return math.floor(math.log2(1 / alpha)) + 1


def z(level: float) -> float:
    """The one-sided normal critical value at ``level``."""
    return NormalDist().inv_cdf(1 - level)


def detectable_drop(deltas: npt.ArrayLike, level: float) -> float | None:
    """The smallest true drop in the mean that the test at ``level`` catches 80 % of the time.

    Uses the spread the paired differences show (sampling noise and real changes of both
    signs, already reduced by averaging repeats), in the normal approximation of the test,
    and never less than ``min_detectable_pairs / n``: fewer examples than that losing a
    point each can never be significant. ``None`` when no drop is detectable at this size.
    """
    d = np.sort(np.asarray(deltas, dtype=np.float64))
    n = len(d)
    needed = min_detectable_pairs(level)
    critical = z(level)
    if n < needed or n <= critical**2:
        return None
    sigma = float(np.std(d, ddof=1)) if n > 1 else 0.0
    a2 = 1 / n
    # Solve delta - critical * sqrt((sigma^2 + delta^2) / n) = z_power * sigma / sqrt(n):
    # the test's threshold uses the uncentred spread, which a real drop widens.
    root = math.sqrt(1 + a2 * (_Z_POWER**2 - critical**2))
    formula = sigma * math.sqrt(a2) * (_Z_POWER + critical * root) / (1 - critical**2 * a2)
    return max(needed / n, formula)


def drop_upper_bound(deltas: npt.ArrayLike, level: float) -> float | None:
    """One-sided upper confidence bound on the mean drop (``-mean``) at ``level``.

    The inversion of the studentised sign-flip statistic around a shifted centre,
    ``-mean + z * sqrt(var / (n - z^2))``, over the differences plus one pseudo-pair at
    -1 and one at +1 (one point of the score each way, as Agresti-Coull adds pseudo
    counts): without them, a dataset where nothing happened to change would "prove" a
    zero drop however small it is. ``None`` (unbounded) when ``n + 2 <= z^2``.
    """
    d = np.concatenate([np.sort(np.asarray(deltas, dtype=np.float64)), [-1.0, 1.0]])
    n = len(d)
    critical = z(level)
    if n <= critical**2:
        return None
    mean = float(np.mean(d))
    variance = float(np.mean((d - mean) ** 2))
    return -mean + critical * math.sqrt(variance / (n - critical**2))

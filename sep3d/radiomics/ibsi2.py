"""IBSI 2 compliance: every configuration of its Phase 1 and Phase 2, run from its data folder.

The data folder is laid out as the IBSI distributes it (and as ``../shared/ibsi2`` holds it)::

    digital_phantom/<name>/image/<name>.nii.gz      Phase-1 phantoms (64^3, 2 mm)
    reference_response_maps/<id>-ValidCRM.nii.gz    the 33 consensus response maps
    ct_phantom/image.nii.gz, ct_phantom/mask.nii.gz the Phase-2 CT phantom and its GTV
    reference_values.csv                            Phase-2 consensus values and tolerances

Phase 1 passes a configuration when every voxel of sep3d's response map is within 1% of
the consensus map's range; Phase 2 when each of the 18 intensity statistics of the filtered
CT phantom inside its re-segmented mask lies within the consensus tolerance. The tables
:data:`PHASE1` and :data:`PHASE2` are the configurations of the data folder's README, written with
:mod:`sep3d.ibsi`; ``sep3d ibsi2 --data DIR`` runs them (:func:`run`).
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import ibsi

__all__ = ["PHASE1", "PHASE2", "PHASES", "RESEGMENT", "Result", "check_data", "ct_phantom", "phase1", "phase2", "run",
           "format_result"]

B = ibsi.IBSI_BOUNDARIES
_MM = (2.0, 2.0, 2.0)  # the digital phantoms' voxel size

#: Phase 1: test id -> (phantom, what it is, filter(image, backend)).
PHASE1 = {
    "1.a.1": ("checkerboard", "mean 15, zero", lambda x, e: ibsi.mean(x, 15, mode=B["zero"], backend=e)),
    "1.a.2": ("checkerboard", "mean 15, nearest", lambda x, e: ibsi.mean(x, 15, mode=B["nearest"], backend=e)),
    "1.a.3": ("checkerboard", "mean 15, periodic", lambda x, e: ibsi.mean(x, 15, mode=B["periodic"], backend=e)),
    "1.a.4": ("checkerboard", "mean 15, mirror", lambda x, e: ibsi.mean(x, 15, mode=B["mirror"], backend=e)),
    "1.b.1": ("impulse", "mean 15 2D, zero",
              lambda x, e: ibsi.mean(x, 15, dimensions=2, mode=B["zero"], backend=e)),
    "2.a": ("impulse", "LoG 3 mm, zero", lambda x, e: ibsi.log(x, 3.0, spacing=_MM, mode=B["zero"], backend=e)),
    "2.b": ("checkerboard", "LoG 5 mm, mirror",
            lambda x, e: ibsi.log(x, 5.0, spacing=_MM, mode=B["mirror"], backend=e)),
    "2.c": ("checkerboard", "LoG 5 mm 2D, mirror",
            lambda x, e: ibsi.log(x, 5.0, spacing=_MM[1:], dimensions=2, mode=B["mirror"], backend=e)),
    "3.a.1": ("impulse", "Laws E5L5S5, zero", lambda x, e: ibsi.laws(x, "E5L5S5", mode=B["zero"], backend=e)),
    "3.a.2": ("impulse", "Laws E5L5S5 rot.-inv. max, zero",
              lambda x, e: ibsi.laws(x, "E5L5S5", rotation_invariant=True, mode=B["zero"], backend=e)),
    "3.a.3": ("impulse", "Laws E5L5S5 rot.-inv. max, energy 7, zero",
              lambda x, e: ibsi.laws(x, "E5L5S5", rotation_invariant=True, energy=True, delta=7, mode=B["zero"],
                                     backend=e)),
    "3.b.1": ("checkerboard", "Laws E3W5R5, mirror",
              lambda x, e: ibsi.laws(x, "E3W5R5", mode=B["mirror"], backend=e)),
    "3.b.2": ("checkerboard", "Laws E3W5R5 rot.-inv. max, mirror",
              lambda x, e: ibsi.laws(x, "E3W5R5", rotation_invariant=True, mode=B["mirror"], backend=e)),
    "3.b.3": ("checkerboard", "Laws E3W5R5 rot.-inv. max, energy 7, mirror",
              lambda x, e: ibsi.laws(x, "E3W5R5", rotation_invariant=True, energy=True, mode=B["mirror"],
                                     backend=e)),
    "3.c.1": ("checkerboard", "Laws L5S5 2D, mirror", lambda x, e: ibsi.laws(x, "L5S5", mode=B["mirror"], backend=e)),
    "3.c.2": ("checkerboard", "Laws L5S5 2D rot.-inv. max, mirror",
              lambda x, e: ibsi.laws(x, "L5S5", rotation_invariant=True, mode=B["mirror"], backend=e)),
    "3.c.3": ("checkerboard", "Laws L5S5 2D rot.-inv. max, energy 7, mirror",
              lambda x, e: ibsi.laws(x, "L5S5", rotation_invariant=True, energy=True, mode=B["mirror"], backend=e)),
    "4.a.1": ("impulse", "Gabor 10 mm/4 mm, gamma 0.5, 60 deg, zero",
              lambda x, e: ibsi.gabor(x, 10.0, 4.0, gamma=0.5, theta=60, spacing=_MM, mode=B["zero"])),
    "4.a.2": ("impulse", "Gabor 10 mm/4 mm, gamma 0.5, 45 deg steps, 3 planes, zero",
              lambda x, e: ibsi.gabor(x, 10.0, 4.0, gamma=0.5, theta_step=45, planes="orthogonal", spacing=_MM,
                                      mode=B["zero"])),
    "4.b.1": ("sphere", "Gabor 20 mm/8 mm, gamma 2.5, 225 deg, mirror",
              lambda x, e: ibsi.gabor(x, 20.0, 8.0, gamma=2.5, theta=225, spacing=_MM, mode=B["mirror"])),
    "4.b.2": ("sphere", "Gabor 20 mm/8 mm, gamma 2.5, 22.5 deg steps, 3 planes, mirror",
              lambda x, e: ibsi.gabor(x, 20.0, 8.0, gamma=2.5, theta_step=22.5, planes="orthogonal", spacing=_MM,
                                      mode=B["mirror"])),
    "5.a.1": ("impulse", "db2 LHL level 1, zero",
              lambda x, e: ibsi.wavelet(x, "db2", "LHL", mode=B["zero"], backend=e)),
    "5.a.2": ("impulse", "db2 LHL level 1 rot.-inv. mean, zero",
              lambda x, e: ibsi.wavelet(x, "db2", "LHL", rotation_invariant=True, mode=B["zero"], backend=e)),
    "6.a.1": ("sphere", "coif1 HHL level 1, periodic",
              lambda x, e: ibsi.wavelet(x, "coif1", "HHL", mode=B["periodic"], backend=e)),
    "6.a.2": ("sphere", "coif1 HHL level 1 rot.-inv. mean, periodic",
              lambda x, e: ibsi.wavelet(x, "coif1", "HHL", rotation_invariant=True, mode=B["periodic"], backend=e)),
    "7.a.1": ("checkerboard", "haar LLL level 2 rot.-inv. mean, mirror",
              lambda x, e: ibsi.wavelet(x, "haar", "LLL", level=2, rotation_invariant=True, mode=B["mirror"],
                                        backend=e)),
    "7.a.2": ("checkerboard", "haar HHH level 2 rot.-inv. mean, mirror",
              lambda x, e: ibsi.wavelet(x, "haar", "HHH", level=2, rotation_invariant=True, mode=B["mirror"],
                                        backend=e)),
    "8.a.1": ("checkerboard", "Simoncelli level 1, periodic", lambda x, e: ibsi.simoncelli(x, 1, mode=B["periodic"])),
    "8.a.2": ("checkerboard", "Simoncelli level 2, periodic", lambda x, e: ibsi.simoncelli(x, 2, mode=B["periodic"])),
    "8.a.3": ("checkerboard", "Simoncelli level 3, periodic", lambda x, e: ibsi.simoncelli(x, 3, mode=B["periodic"])),
    "9.a": ("impulse", "Riesz (1,0,0) of LoG 3 mm, zero",
            lambda x, e: ibsi.riesz(x, (1, 0, 0), sigma=3.0, spacing=_MM, mode=B["zero"])),
    "9.b.1": ("sphere", "Riesz (0,2,0) of LoG 3 mm, zero",
              lambda x, e: ibsi.riesz(x, (0, 2, 0), sigma=3.0, spacing=_MM, mode=B["zero"])),
    "10.b.1": ("pattern_1", "Riesz (0,2,0) of Simoncelli level 1, nearest",
               lambda x, e: ibsi.riesz(x, (0, 2, 0), base="simoncelli", level=1, mode=B["nearest"])),
}

#: Phase 2: config -> (what it is, "A" filter(image, in-plane spacing (y, x), backend),
#: "B" filter(image on the 1 mm grid, backend)). Mirror boundary unless named.
PHASE2 = {
    "1": ("none", lambda x, sp, e: x, lambda x, e: x),
    "2": ("mean 5", lambda x, sp, e: ibsi.mean(x, 5, dimensions=2, backend=e),
          lambda x, e: ibsi.mean(x, 5, backend=e)),
    "3": ("LoG 1.5 mm", lambda x, sp, e: ibsi.log(x, 1.5, spacing=sp, dimensions=2, backend=e),
          lambda x, e: ibsi.log(x, 1.5, spacing=(1.0,) * 3, backend=e)),
    "4": ("Laws L5E5(E5) energy 7, rot.-inv. max",
          lambda x, sp, e: ibsi.laws(x, "L5E5", energy=True, delta=7, rotation_invariant=True, pooling="max",
                                     backend=e),
          lambda x, e: ibsi.laws(x, "L5E5E5", energy=True, delta=7, rotation_invariant=True, pooling="max",
                                 backend=e)),
    "5": ("Gabor 5 mm/2 mm, gamma 1.5, 22.5 deg steps (B: 3 planes)",
          lambda x, sp, e: ibsi.gabor(x, 5.0, 2.0, gamma=1.5, theta_step=22.5, spacing=(1.0,) + tuple(sp)),
          lambda x, e: ibsi.gabor(x, 5.0, 2.0, gamma=1.5, theta_step=22.5, planes="orthogonal", spacing=(1.0,) * 3)),
    "6": ("db3 L(L)H level 1, rot.-inv. mean",
          lambda x, sp, e: ibsi.wavelet(x, "db3", "LH", rotation_invariant=True, pooling="mean", backend=e),
          lambda x, e: ibsi.wavelet(x, "db3", "LLH", rotation_invariant=True, pooling="mean", backend=e)),
    "7": ("db3 HH(H) level 2, rot.-inv. mean",
          lambda x, sp, e: ibsi.wavelet(x, "db3", "HH", level=2, rotation_invariant=True, pooling="mean", backend=e),
          lambda x, e: ibsi.wavelet(x, "db3", "HHH", level=2, rotation_invariant=True, pooling="mean", backend=e)),
    "8": ("Simoncelli level 1, periodic",
          lambda x, sp, e: ibsi.simoncelli(x, 1, dimensions=2, mode=B["periodic"]),
          lambda x, e: ibsi.simoncelli(x, 1, mode=B["periodic"])),
    "9": ("Simoncelli level 2, periodic",
          lambda x, sp, e: ibsi.simoncelli(x, 2, dimensions=2, mode=B["periodic"]),
          lambda x, e: ibsi.simoncelli(x, 2, mode=B["periodic"])),
}

PHASES = ("1", "2", "all")

#: Re-segmentation range of Phase 2, HU.
RESEGMENT = (-1000.0, 400.0)


@dataclass
class Result:
    """One configuration's outcome.

    ``error`` is the largest difference in % of the consensus map's range (Phase 1), or the
    worst ``abs(value - consensus) / tolerance`` over the statistics (Phase 2); ``details``
    names what is off (the statistics outside their tolerance).
    """
    phase: str
    test_id: str
    what: str
    passed: bool
    error: float
    details: list = field(default_factory=list)


def check_data(data, phase="all"):
    """The data folder as a Path, or a ValueError naming what of it `phase` needs and is missing."""
    if phase not in PHASES:
        raise ValueError(f"`phase` must be one of {list(PHASES)}; got {phase!r}")
    data = Path(data)
    needed = []
    if phase in ("1", "all"):
        needed += [data / "digital_phantom", data / "reference_response_maps"]
    if phase in ("2", "all"):
        needed += [data / "ct_phantom" / "image.nii.gz", data / "ct_phantom" / "mask.nii.gz",
                   data / "reference_values.csv"]
    missing = [str(p.relative_to(data)) for p in needed if not p.exists()]
    if not data.is_dir() or missing:
        raise ValueError(f"`data` must be an IBSI 2 data folder (digital_phantom/, reference_response_maps/, "
                         f"ct_phantom/, reference_values.csv); {data} lacks {missing or ['everything']}")
    return data


def _read(path):
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))  # (z, y, x)


def _selected(table, only):
    if only is None:
        return list(table)
    unknown = sorted(set(only) - set(table))
    if unknown:
        raise ValueError(f"unknown test ids {unknown}; known: {list(table)}")
    return [key for key in table if key in set(only)]


def phase1(data, backend="auto", only=None):
    """Yield a :class:`Result` per Phase-1 configuration (all, or the ids in `only`)."""
    data = Path(data)
    phantoms = {}  # each phantom read once
    for test_id in _selected(PHASE1, only):
        phantom, what, run_filter = PHASE1[test_id]
        if phantom not in phantoms:
            path = data / "digital_phantom" / phantom / "image" / f"{phantom}.nii.gz"
            phantoms[phantom] = _read(path).astype(np.float32)
        image = phantoms[phantom]
        ref = _read(data / "reference_response_maps" / f"{test_id.replace('.', '_')}-ValidCRM.nii.gz")
        ref = ref.astype(np.float64)
        out = np.asarray(run_filter(image, backend), dtype=np.float64)
        if out.shape != ref.shape:
            yield Result("1", test_id, what, False, math.inf, [f"shape {out.shape} vs {ref.shape}"])
            continue
        error = 100.0 * float(np.abs(out - ref).max() / (ref.max() - ref.min()))
        yield Result("1", test_id, what, error <= 1.0, error)


def _consensus(path):
    values = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh, delimiter=";"):
            if row["consensus_value"]:  # a few features have no consensus (8.B's qcod)
                values.setdefault(row["filter_id"], {})[row["feature_tag"]] = (
                    float(row["consensus_value"]), float(row["tolerance"]))
    return values


def ct_phantom(data):
    """The Phase-2 inputs: ``{"A": (image, roi, in-plane spacing), "B": (image, roi, spacing)}``.

    "A" is the phantom on its own grid; "B" resampled to 1 mm (image by cubic B-spline with
    air outside, mask linear at 0.5). Both masks are re-segmented to :data:`RESEGMENT`.
    """
    import SimpleITK as sitk

    from .statistics import resample_isotropic, resegment

    data = Path(data)
    image = sitk.ReadImage(str(data / "ct_phantom" / "image.nii.gz"))
    mask = sitk.ReadImage(str(data / "ct_phantom" / "mask.nii.gz"))
    original = sitk.GetArrayFromImage(image).astype(np.float32)
    resampled = sitk.GetArrayFromImage(resample_isotropic(image, 1.0, fill=RESEGMENT[0])).astype(np.float32)
    resampled_mask = sitk.GetArrayFromImage(resample_isotropic(mask, 1.0, mask=True))
    return {
        "A": (original, resegment(sitk.GetArrayFromImage(mask), original, *RESEGMENT), image.GetSpacing()[1::-1]),
        "B": (resampled, resegment(resampled_mask, resampled, *RESEGMENT), (1.0,) * 3),
    }


def phase2(data, backend="auto", only=None):
    """Yield a :class:`Result` per Phase-2 configuration ("1.A" ... "9.B", or the ids in `only`)."""
    from .statistics import intensity_statistics

    data = Path(data)
    ids = [f"{config}.{variant}" for config in PHASE2 for variant in ("A", "B")]
    selected = _selected(dict.fromkeys(ids), only)
    if not selected:
        return
    consensus = _consensus(data / "reference_values.csv")
    inputs = ct_phantom(data)
    for test_id in selected:
        config, variant = test_id.split(".")
        what, two_d, three_d = PHASE2[config]
        image, roi, spacing = inputs[variant]
        filtered = two_d(image, spacing, backend) if variant == "A" else three_d(image, backend)
        stats = intensity_statistics(np.asarray(filtered)[roi])
        expected = consensus.get(test_id, {})
        ratios = {tag: abs(stats[tag] - value) / tol if tol > 0 else (0.0 if stats[tag] == value else math.inf)
                  for tag, (value, tol) in expected.items()}
        off = [f"{tag} {stats[tag]:.4g} vs {expected[tag][0]:.4g} +- {expected[tag][1]:.2g}"
               for tag, ratio in ratios.items() if not ratio <= 1.0]
        yield Result("2", test_id, f"{what} ({len(expected)} statistics)", bool(expected) and not off,
                     max(ratios.values(), default=math.inf), off)


def run(data, phase="all", backend="auto", only=None):
    """Yield the :class:`Result` of every configuration `phase` has (Phase 1 first)."""
    data = check_data(data, phase)
    if only is not None:
        known = (list(PHASE1) if phase in ("1", "all") else []) + (
            [f"{c}.{v}" for c in PHASE2 for v in "AB"] if phase in ("2", "all") else [])
        _selected(dict.fromkeys(known), only)  # unknown ids are an error, not an empty run
    if phase in ("1", "all"):
        yield from phase1(data, backend, None if only is None else [i for i in only if i in PHASE1])
    if phase in ("2", "all"):
        yield from phase2(data, backend, None if only is None else [i for i in only if i not in PHASE1])


def format_result(result):
    """One line: ``PASS  2.a     LoG 3 mm, zero   0.0012% of range``."""
    verdict = "PASS" if result.passed else "FAIL"
    if result.phase == "1":
        measure = f"{result.error:.4f}% of range (limit 1%)"
    else:
        measure = f"worst statistic at {result.error:.2f} of its tolerance"
    line = f"{verdict}  {result.phase}  {result.test_id:<7} {result.what:<64} {measure}"
    if result.details:
        line += "; " + "; ".join(result.details)
    return line

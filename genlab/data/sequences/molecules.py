"""Molecule evaluation with RDKit, as in the MOSES benchmark (Polykovskiy et al. 2020):
validity, uniqueness, novelty, internal diversity and property distributions.

Properties that can condition generation when the SMILES table lacks such a column:
`qed` (drug-likeness, Bickerton et al. 2012), `logp` (Crippen logP), `mw` (molecular
weight), `tpsa` (topological polar surface area).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "PROPERTIES",
    "canonical",
    "internal_diversity",
    "molecule_grid_png",
    "molecule_metrics",
    "properties",
    "wasserstein",
]


def _rdkit() -> Any:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")  # invalid generated SMILES are expected; no stderr noise
    return Chem


def _property_functions() -> dict[str, Callable[[Any], float]]:
    from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors

    return {
        "qed": QED.qed,
        "logp": Crippen.MolLogP,
        "mw": Descriptors.MolWt,
        "tpsa": rdMolDescriptors.CalcTPSA,
    }


PROPERTIES = ("qed", "logp", "mw", "tpsa")


def canonical(smiles: Iterable[str]) -> list[str | None]:
    """RDKit canonical SMILES, None where a string does not parse to a molecule."""
    chem = _rdkit()
    out: list[str | None] = []
    for s in smiles:
        mol = chem.MolFromSmiles(s) if s else None
        out.append(chem.MolToSmiles(mol) if mol is not None else None)
    return out


def properties(smiles: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """(n, len(names)) property values computed with RDKit; NaN rows for invalid SMILES."""
    chem = _rdkit()
    fns = _property_functions()
    out = np.full((len(smiles), len(names)), np.nan)
    for i, s in enumerate(smiles):
        mol = chem.MolFromSmiles(s) if s else None
        if mol is not None:
            out[i] = [fns[name](mol) for name in names]
    return out


def _fingerprints(smiles: Sequence[str]) -> list[Any]:
    from rdkit.Chem import rdFingerprintGenerator

    chem = _rdkit()
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    return [gen.GetFingerprint(chem.MolFromSmiles(s)) for s in smiles]


def internal_diversity(smiles: Sequence[str], *, max_molecules: int = 2000,
                       seed: int = 0) -> float:
    """1 - mean Tanimoto similarity of Morgan fingerprints (radius 2, 1024 bits) over all
    pairs (MOSES IntDiv1), on a random subset of `max_molecules` valid molecules."""
    from rdkit import DataStructs

    smiles = list(smiles)
    if len(smiles) > max_molecules:
        idx = np.random.default_rng(seed).choice(len(smiles), max_molecules, replace=False)
        smiles = [smiles[i] for i in idx]
    if len(smiles) < 2:
        return float("nan")
    fps = _fingerprints(smiles)
    total = 0.0
    for fp in fps:
        total += float(np.sum(DataStructs.BulkTanimotoSimilarity(fp, fps)))
    # MOSES averages over all ordered pairs, the diagonal (similarity 1) included
    return 1.0 - total / len(fps) ** 2


def wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    """Wasserstein-1 distance between two samples of a real property."""
    from scipy.stats import wasserstein_distance

    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    return float(wasserstein_distance(a, b)) if a.size and b.size else float("nan")


def molecule_metrics(
    generated: Sequence[str],
    *,
    reference: Sequence[str] | None = None,
    training: Iterable[str] | None = None,
    diversity_subset: int = 2000,
) -> dict[str, float]:
    """MOSES-style metrics of generated SMILES.

    validity: share that RDKit parses; uniqueness: distinct canonical molecules among the
    valid ones; novelty: share of the distinct valid ones not in `training` (canonical
    SMILES; MOSES stores its sets canonical); int_div: `internal_diversity`;
    `<prop>_w1`: Wasserstein-1 distance of logP, QED and MW to `reference`.
    """
    can = canonical(generated)
    valid = [c for c in can if c is not None]
    unique = set(valid)
    out: dict[str, float] = {
        "n": float(len(generated)),
        "validity": len(valid) / max(len(generated), 1),
        "uniqueness": len(unique) / max(len(valid), 1),
        "int_div": internal_diversity(sorted(unique), max_molecules=diversity_subset),
    }
    if training is not None:
        train_set = training if isinstance(training, (set, frozenset)) else set(training)
        out["novelty"] = sum(1 for c in unique if c not in train_set) / max(len(unique), 1)
    if reference is not None:
        names = ["logp", "qed", "mw"]
        gen_props = properties(valid, names)
        ref_props = properties(list(reference), names)
        for j, name in enumerate(names):
            out[f"{name}_w1"] = wasserstein(ref_props[:, j], gen_props[:, j])
    return out


def molecule_grid_png(smiles: Sequence[str], *, per_row: int = 4,
                      legends: Sequence[str] | None = None) -> bytes:
    """PNG bytes of a grid of molecule drawings (invalid SMILES are skipped)."""
    from rdkit.Chem import Draw

    chem = _rdkit()
    mols, labels = [], []
    for i, s in enumerate(smiles):
        mol = chem.MolFromSmiles(s)
        if mol is not None:
            mols.append(mol)
            labels.append(legends[i] if legends is not None else "")
    img = Draw.MolsToGridImage(mols or [chem.MolFromSmiles("C")], molsPerRow=per_row,
                               subImgSize=(220, 180), legends=labels or None, returnPNG=True)
    if isinstance(img, bytes):
        return img
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()

"""Parameters of interest and nuisance parameters (``madminer.models.parameters``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AnalysisParameter", "MaxPower", "NuisanceParameter"]

#: A parameter's maximal power in the squared matrix element: one int, or one int per
#: operator configuration (see :meth:`motherlode.morphing.PhysicsMorpher.find_components`).
MaxPower = int | tuple[int, ...]


@dataclass
class AnalysisParameter:
    """A theory parameter of interest.

    Parameters
    ----------
    name : str
        Internal name; defines the order of the components of every theta vector.
    lha_block : str
        The param_card block, e.g. ``"SMEFT"``.
    lha_id : int
        The entry inside the block.
    max_power : int or tuple of int
        Maximal power of the parameter in the squared matrix element (per operator configuration).
    val_range : tuple of float
        The range of primary interest, used for the morphing-basis optimisation.
    transform : str or None
        Expression in ``theta`` giving the param_card value; ``None`` means the identity.

    Examples
    --------
    >>> print(AnalysisParameter("cHW", "SMEFT", 7, 2, (-1.0, 1.0), None))
    cHW (LHA: SMEFT 7, max power: 2, range: (-1.0, 1.0))
    """

    name: str
    lha_block: str
    lha_id: int
    max_power: MaxPower
    val_range: tuple[float, float]
    transform: str | None = None

    def __str__(self) -> str:
        text = f"{self.name} (LHA: {self.lha_block} {self.lha_id}, max power: {self.max_power}, "
        text += f"range: {tuple(self.val_range)}"
        if self.transform is not None:
            text += f", param_card value: {self.transform}"
        return text + ")"

    @property
    def max_powers(self) -> tuple[int, ...]:
        """The maximal power for each operator configuration, as a tuple."""
        return self.max_power if isinstance(self.max_power, tuple) else (self.max_power,)


@dataclass
class NuisanceParameter:
    """A nuisance parameter and the benchmarks at nu = +1 and nu = -1 (the latter optional)."""

    name: str
    systematic: str
    benchmark_pos: str | None = None
    benchmark_neg: str | None = None

    def __str__(self) -> str:
        return (
            f"{self.name} (systematic: {self.systematic}, "
            f"benchmarks: {self.benchmark_pos} | {self.benchmark_neg})"
        )

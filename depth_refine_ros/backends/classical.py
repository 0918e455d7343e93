"""The ``classical`` backend: the upsamplers of :mod:`depth_refine_ros.core.upsample`.

Useful before any network is installed and as the baseline every model is compared against.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from depth_refine_ros.backends.base import Backend, BackendError
from depth_refine_ros.core.upsample import UPSAMPLERS, upsample


class ClassicalBackend(Backend):
    """Classical guided (or unguided) upsampling.

    Args:
        method: ``bicubic``, ``joint_bilateral``, ``guided_filter`` or ``fgs``.
        **params: the method's keyword parameters (see :mod:`depth_refine_ros.core.upsample`).
    """

    name = "classical"

    def __init__(self, method: str = "bicubic", **params: Any) -> None:
        if method not in UPSAMPLERS:
            raise BackendError(f"unknown classical method '{method}' "
                               f"(expected one of {', '.join(sorted(UPSAMPLERS))})")
        self.method = method
        self.params = params
        self.needs_rgb = method != "bicubic"

    def infer(self, inputs: dict[str, np.ndarray], out_hw: tuple[int, int]) -> dict[str, np.ndarray]:
        return {"depth": upsample(self.method, inputs["depth_lr"], inputs.get("rgb"), out_hw,
                                  **self.params)}

    def describe(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"classical/{self.method}" + (f" ({extra})" if extra else "")

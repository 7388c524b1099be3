"""ELSA as a plug-in (paper section 4.6): F'(x) = R(x) + L(x), with L the element-wise sign-based
attention of eq. 5: C(alpha)*x for x < 0 and sigmoid(beta)*x for x >= 0.

Unlike the official module, the clamped alpha and sigmoid(beta) are the values actually used.
For an activation that pools channels (Maxout) L is applied to R's output, the selected pieces.
"""
from __future__ import annotations

from torch import nn

from .arelu import SIGN_ATTENTION_PARAMS, _scalar_parameter, attention_inputs, sign_attention
from .registry import ELSA_SUFFIX, register_wrapper


class ELSA(nn.Module):
    kernel = "auto"   # the attention term's implementation: compiled.use_kernel / use_compiled pin one

    def __init__(self, base: nn.Module, alpha: float = 0.9, beta: float = 2.0, learn: str = "both"):
        super().__init__()
        self.base = base
        self.learn = learn
        self.alpha = _scalar_parameter("alpha", alpha, learn)
        self.beta = _scalar_parameter("beta", beta, learn)
        self.channel_multiplier = getattr(base, "channel_multiplier", 1)

    def forward(self, x):
        out = self.base(x)
        attend_to = out if out.shape != x.shape else x
        return out + sign_attention(attend_to, *attention_inputs(self.alpha, self.beta, self.learn), pos_offset=0.0, kernel=self.kernel)


register_wrapper(ELSA_SUFFIX, "+ELSA", r" \;+\; \mathrm{ELSA}(x)", SIGN_ATTENTION_PARAMS, ELSA)

"""Score-CAM with every masked input in one batch (pytorch_grad_cam's runs them in chunks behind a
tqdm bar on stderr). Imports pytorch_grad_cam: load it only when a CAM is drawn."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_grad_cam import ScoreCAM


class BatchedScoreCAM(ScoreCAM):
    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        with torch.no_grad():
            acts = torch.from_numpy(activations).to(self.device)
            up = F.interpolate(acts, size=input_tensor.shape[-2:], mode="bilinear", align_corners=True)
            flat = up.flatten(2)
            lo, hi = flat.min(-1).values[..., None, None], flat.max(-1).values[..., None, None]
            masks = (up - lo) / (hi - lo + 1e-8)
            weights = []
            for target, image, mask in zip(targets, input_tensor, masks):
                scores = target(self.model(image[None] * mask[:, None]))   # one score per channel
                weights.append(torch.softmax(scores, dim=-1))
            return torch.stack(weights).cpu().numpy()

"""Eigen-CAM: the maps' first principal component, by a thin SVD in torch (numpy's full SVD is slow
on a small busy CPU), with the component's arbitrary sign chosen so that the map follows the
activations rather than their complement. Ignores the class."""
from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import EigenCAM


class OrientedEigenCAM(EigenCAM):
    def get_cam_image(self, input_tensor, target_layer, target_category, activations, grads, eigen_smooth):
        maps = []
        for act in torch.from_numpy(np.nan_to_num(activations)):            # [C, H, W]
            flat = act.flatten(1).T                                          # [H*W, C]
            centred = flat - flat.mean(0)
            if centred.abs().max() == 0:                                     # 1x1 maps, constant maps
                maps.append(torch.zeros(act.shape[1:]))
                continue
            projection = centred @ torch.linalg.svd(centred, full_matrices=False).Vh[0]
            if torch.dot(projection, flat.sum(1) - flat.sum(1).mean()) < 0:
                projection = -projection
            maps.append(projection.reshape(act.shape[1:]))
        return torch.stack(maps).numpy().astype(np.float32)

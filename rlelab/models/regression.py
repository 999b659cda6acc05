"""Direct regression (section 4): backbone -> global average pooling -> one FC layer of K x 2D neurons.

For each of the K joints the FC gives mu_hat and sigma_hat = sigmoid(.) (section 3.3), D coordinates each (D = 2
for an image keypoint, 3 for a 3-D joint); coordinates are normalized to the crop, [-0.5, 0.5]. With
``flow=True`` the model also owns the RealNVP G_phi over the D-dimensional deviation bar_mu (one flow shared by
all joints), trained with it and unused at test time.
"""
import math

import torch
from torch import nn

from ..flows import make_flow
from ..losses import sigma_hat_from_logits


class RegressionModel(nn.Module):
    def __init__(self, features, channels, num_joints=17, dim=2, flow=False, sigma_init=0.5):
        super().__init__()
        self.features = features
        self.num_joints, self.dim = num_joints, dim
        self.fc = nn.Linear(channels, num_joints * 2 * dim)
        nn.init.xavier_uniform_(self.fc.weight, gain=0.01)  # start at the box centre, as the reference code
        nn.init.zeros_(self.fc.bias)
        with torch.no_grad():  # sigma_hat starts at sigma_init (sigmoid(0) = 0.5 of the crop without it)
            self.fc.bias.view(num_joints, 2 * dim)[:, dim:] = math.log(sigma_init / (1 - sigma_init))
        self.flow = make_flow(dim) if flow else None

    def forward(self, images):
        out = self.fc(self.features(images).mean((2, 3))).view(-1, self.num_joints, 2 * self.dim)
        return {"mu_hat": out[..., :self.dim], "sigma_hat": sigma_hat_from_logits(out[..., self.dim:])}

"""Direct regression (section 4): backbone -> global average pooling -> one FC layer of K x 4 neurons.

For each of the K joints the FC gives mu_hat (x, y) and sigma_hat (x, y) = sigmoid(.) (section 3.3);
coordinates are normalized to the crop, [-0.5, 0.5]. With ``flow=True`` the model also owns the RealNVP
G_phi over the 2-D deviation bar_mu (one flow shared by all joints), trained with it and unused at test time.
"""
import math

import torch
from torch import nn

from ..flows import make_flow
from ..losses import sigma_hat_from_logits


class RegressionModel(nn.Module):
    def __init__(self, features, channels, num_joints=17, flow=False, sigma_init=0.5):
        super().__init__()
        self.features = features
        self.num_joints = num_joints
        self.fc = nn.Linear(channels, num_joints * 4)
        nn.init.xavier_uniform_(self.fc.weight, gain=0.01)  # start at the box centre, as the reference code
        nn.init.zeros_(self.fc.bias)
        with torch.no_grad():  # sigma_hat starts at sigma_init (sigmoid(0) = 0.5 of the crop without it)
            self.fc.bias.view(num_joints, 4)[:, 2:] = math.log(sigma_init / (1 - sigma_init))
        self.flow = make_flow(2) if flow else None

    def forward(self, images):
        out = self.fc(self.features(images).mean((2, 3))).view(-1, self.num_joints, 4)
        return {"mu_hat": out[..., :2], "sigma_hat": sigma_hat_from_logits(out[..., 2:])}

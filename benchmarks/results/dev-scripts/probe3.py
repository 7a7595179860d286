"""Dev protocol: the manifold term's space -- origin of the unit normalisation (blur 1, whole training bank)."""
import torch, numpy as np
from sklearn.metrics import roc_auc_score
from omasgan import data
from omasgan.models.omasgan.model import binomial_blur
from omasgan.ops import min_distance
torch.set_num_threads(2)
def emb(x, origin, blur=1):
    x = binomial_blur(x - origin, blur).flatten(1)
    return x / x.norm(dim=1, keepdim=True)
res = {}
for c in range(10):
    s = data.make_split("mnist", c, root="../shared/data", dev=True)
    y = s.test_y.numpy(); mean = s.train.mean(0, keepdim=True)
    res[c] = {}
    for name, origin in (("min(-1)", -1.0), ("zero", 0.0), ("mean image", mean)):
        res[c][name] = roc_auc_score(y, min_distance(emb(s.test_x, origin), emb(s.train, origin))[0])
    print(c, {k: round(v, 3) for k, v in res[c].items()}, flush=True)
print({k: round(np.mean([res[c][k] for c in res]), 4) for k in res[0]})

import torch, numpy as np, torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from omasgan import data
def topk(q, bank):
    out=[]; bn=(bank*bank).sum(1)
    for qc in q.split(1000):
        d=(qc*qc).sum(1,keepdim=True)+bn[None]-2*qc@bank.T
        out.append(d.clamp_min(0).min(1).values.sqrt())
    return torch.cat(out)
def unit(x, blur):
    x = x + 1
    if blur:
        k = torch.tensor([1.,2.,1.]); k = (k[:,None]*k[None])/16
        x = F.conv2d(x, k[None,None], padding=1)
    x = x.flatten(1); return x / x.norm(dim=1,keepdim=True)
res={}
for c in range(10):
    s = data.make_split("mnist", c, root="../shared/data", dev=True)
    tr = s.train[:20000]; y = s.test_y.numpy()
    res[c] = {b: roc_auc_score(y, topk(unit(s.test_x,b), unit(tr,b))) for b in (False, True)}
    print(c, res[c], flush=True)
print({b: np.mean([res[c][b] for c in res]) for b in (False, True)})

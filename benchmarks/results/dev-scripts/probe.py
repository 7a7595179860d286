import torch, numpy as np, time, sys
from sklearn.metrics import roc_auc_score
from omasgan.data import load
torch.manual_seed(0)
x, y = load("mnist", "/work/shared/data", train=True)
x = x.flatten(1)
g = torch.Generator().manual_seed(123)
perm = torch.randperm(len(x), generator=g)
dev_idx = perm[:6000]; tr_idx = perm[6000:]
def topk(q, bank, k):
    out=[]
    bn = (bank*bank).sum(1)
    for qc in q.split(1000):
        d = (qc*qc).sum(1,keepdim=True) + bn[None] - 2*qc@bank.T
        out.append(d.clamp_min(0).topk(k, largest=False).values.sqrt())
    return torch.cat(out)
res = {}
for c in range(10):
    tr = x[tr_idx][y[tr_idx]!=c][:20000]
    dq, dy = x[dev_idx], (y[dev_idx]==c).long().numpy()
    a = {}
    d = topk(dq, tr, 5)
    a['knn1'] = roc_auc_score(dy, d[:,0]); a['knn5']=roc_auc_score(dy, d.mean(1))
    nrm = lambda t: (t+1)/ (t+1).norm(dim=1,keepdim=True).clamp_min(1e-6)
    dc = topk(nrm(dq), nrm(tr), 1)
    a['cos1'] = roc_auc_score(dy, dc[:,0])
    res[c]=a; print(c, {k: round(v,3) for k,v in a.items()}, flush=True)
print('mean', {k: round(np.mean([res[c][k] for c in res]),3) for k in res[0]})

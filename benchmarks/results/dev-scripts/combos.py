"""Dev-protocol diagnostics: reload each class's model, recompute the score terms with the manifold
term over the normal training data (unit space, blur 0/1/2), and report AUROCs of weight combinations."""
import sys, json, itertools, numpy as np, torch
from sklearn.metrics import roc_auc_score
from omasgan import data
from omasgan.models.omasgan import OMASGAN
run = sys.argv[1]; classes = [int(c) for c in sys.argv[2].split(",")] if len(sys.argv) > 2 else range(10)
torch.set_num_threads(2)
res = {}
for c in classes:
    split = data.make_split("mnist", c, root="../shared/data", dev=True)
    det = OMASGAN.load(f"{run}/class_{c}/model.pt", progress=False)
    det.config.kappa = 1.0; det.config.space = "unit"; det.config.score_bank_source = "data"
    y = split.test_y.numpy()
    out = {}
    for blur in (0, 1, 2):
        det.config.blur = blur
        for tb in (0.0, 3.0):
            det.config.term_bound = tb
            det._calibrate(split.val, split.train)
            t = det.score_terms(split.test_x)
            J, fD, M = t["J"], t["fD"], t["manifold"]
            out[f"b{blur} M"] = roc_auc_score(y, M)
            for wj, wf in itertools.product((0, 0.25, 0.5, 1), (0, 0.25, 0.5, 1)):
                out[f"b{blur} tb{tb} M+{wj}J+{wf}fD"] = roc_auc_score(y, M + wj * J + wf * fD)
    out["J"] = roc_auc_score(y, J); out["fD"] = roc_auc_score(y, fD)
    res[c] = out
    print(c, {k: round(v, 3) for k, v in out.items() if k in ("b0 M", "b1 M", "b2 M", "J", "fD", "b1 tb3.0 M+0.5J+0.5fD", "b1 tb3.0 M+0.25J+0.25fD")}, flush=True)
keys = res[classes[0]].keys()
means = {k: np.mean([res[c][k] for c in res]) for k in keys}
for k, v in sorted(means.items(), key=lambda kv: -kv[1])[:15]:
    print(f"{v:.4f} {k}")
for k in ("b0 M", "b1 M", "b2 M", "J", "fD", "b1 tb3.0 M+1J+1fD", "b1 tb0.0 M+1J+1fD"):
    print(f"{means[k]:.4f} {k}")
json.dump(res, open(f"{run}/combos.json", "w"), indent=1)

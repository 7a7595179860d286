"""Dev protocol: AUROC of weightings of a run's saved standardised terms (J, fD bounded; manifold)."""
import sys, json, itertools, numpy as np, torch
from sklearn.metrics import roc_auc_score
from omasgan import data
from omasgan.models.omasgan import OMASGAN
torch.set_num_threads(2)
res = {}
for run_class in sys.argv[1:]:
    run, c = run_class.split(":"); c = int(c)
    split = data.make_split("mnist", c, root="../shared/data", dev=True)
    det = OMASGAN.load(f"{run}/class_{c}/model.pt", progress=False)
    t = det.score_terms(split.test_x); y = split.test_y.numpy()
    out = {"J": roc_auc_score(y, t["J"]), "fD": roc_auc_score(y, t["fD"]), "M": roc_auc_score(y, t["manifold"])}
    for wj, wf in itertools.product((0, 0.1, 0.25, 0.5, 1), (0, 0.1, 0.25)):
        out[f"M+{wj}J+{wf}fD"] = roc_auc_score(y, t["manifold"] + wj * t["J"] + wf * t["fD"])
    res[c] = out
    print(c, {k: round(v, 3) for k, v in out.items() if k in ("J", "fD", "M", "M+0.1J+0fD", "M+0.25J+0fD")}, flush=True)
means = {k: np.mean([res[c][k] for c in res]) for k in res[next(iter(res))]}
for k, v in sorted(means.items(), key=lambda kv: -kv[1]):
    print(f"{v:.4f} {k}")

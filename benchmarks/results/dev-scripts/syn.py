import sys, torch, numpy as np
from sklearn.metrics import roc_auc_score
from omasgan import OMASGAN, data
torch.set_num_threads(1)
over = eval("dict(%s)" % (sys.argv[1] if len(sys.argv) > 1 else ""))
s = data.make_split("synthetic")
m = OMASGAN.from_preset("quick", (2,), progress=False, **over).fit(s.train, s.val)
print("auroc", roc_auc_score(s.test_y, m.decision_function(s.test_x)), "train s", m.train_seconds_)
far = torch.tensor([[5., 0], [100, 0], [1e4, 1e4], [-100, 100], [1e4, 0], [0, 0]])
print("far scores", m.decision_function(far).round(2), "thr", round(m.threshold_, 2), "pred", m.predict(far))
r = torch.linspace(1.3, 50, 60)[:, None] * torch.tensor([[np.cos(0.3), np.sin(0.3)]])
sc = m.decision_function(r.float()); print("ray monotone", bool(np.all(np.diff(sc) > 0)), sc[:8].round(2))
print({k: roc_auc_score(s.test_y, v) for k, v in m.score_terms(s.test_x).items() if np.std(v) > 0})

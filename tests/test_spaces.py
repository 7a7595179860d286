"""omasgan.spaces: the "auto" space, chosen on normal data alone by telling held-out images from
copies with a pasted patch."""
import numpy as np
import pytest
import torch

from omasgan import NearestNeighbour, OMASGAN, spaces


def test_pasted_patches_change_one_rectangle_taken_from_another_image():
    images = torch.arange(6, dtype=torch.float32).view(6, 1, 1, 1).expand(6, 1, 12, 12).clone()
    pasted = spaces.pasted_patches(images, torch.Generator().manual_seed(0))
    assert pasted.shape == images.shape
    for i in range(len(images)):
        changed = pasted[i, 0] != images[i, 0]
        rows, cols = changed.any(dim=1).nonzero().flatten(), changed.any(dim=0).nonzero().flatten()
        if len(rows):  # a patch from the image itself would change nothing
            assert changed[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()  # one rectangle
            assert 3 <= len(rows) <= 6 and 3 <= len(cols) <= 6  # 1/4 to 1/2 of each side
            assert len(pasted[i, 0][changed].unique()) == 1  # its values come from one other image
    again = spaces.pasted_patches(images, torch.Generator().manual_seed(0))
    assert torch.equal(pasted, again)


def _images(n_shapes: int, ink: str, n: int = 400) -> torch.Tensor:
    """[n, 1, 8, 8]: copies of `n_shapes` fixed random shapes, each with a random amount of ink in
    [0.1, 1]. ink="scale": the ink scales the copy and its grain alike (a pure nuisance, which the
    unit space removes); "faint": the grain is added noise, which the unit space blows up on the
    faint copies."""
    g = torch.Generator().manual_seed(1)
    shapes = (torch.rand(n_shapes, 1, 8, 8, generator=g) > 0.6).float()
    copies = shapes[torch.randint(0, n_shapes, (n,), generator=g)]
    amount = torch.rand(n, 1, 1, 1, generator=g) * 0.9 + 0.1
    if ink == "scale":
        return amount * copies * (1 + 0.2 * torch.rand(n, 1, 8, 8, generator=g))
    return amount * copies + 0.05 * torch.randn(n, 1, 8, 8, generator=g)


@pytest.mark.parametrize("ink, expected", [("scale", "unit"), ("faint", "pixel")])
def test_choose_picks_the_space_in_which_a_pasted_patch_stands_out(ink, expected):
    images = _images(20 if ink == "scale" else 3, ink)
    space, blur, scores = spaces.choose(images, offset=float(images.min()))
    assert space == expected, scores
    assert set(scores) == {f"{s}/{b}" for s, b in spaces.CANDIDATES}
    assert scores[f"{space}/{blur}"] == max(scores.values()) and all(0 <= v <= 1 for v in scores.values())


def test_choose_is_seeded_on_its_own_generator_and_skips_non_images():
    data = _images(3, "scale", n=200)
    torch.manual_seed(5)
    state = torch.random.get_rng_state()
    first = spaces.choose(data, offset=0.0, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # training after it draws the same stream
    assert spaces.choose(data, offset=0.0, seed=3) == first
    assert spaces.choose(torch.randn(100, 2), offset=0.0) == ("pixel", 0, {})
    assert spaces.resolve(data, "unit", 1, 0.0) == ("unit", 1, {})


@pytest.mark.parametrize("model", [OMASGAN, NearestNeighbour])
def test_auto_space_refuses_a_blur_it_would_choose_itself(model):
    with pytest.raises(ValueError, match="blur: space='auto' chooses the blur itself"):
        model(space="auto", blur=1).fit(torch.rand(40, 1, 8, 8))


def test_the_chosen_space_is_saved_and_reported(tmp_path):
    train = _images(20, "scale", n=200)
    model = OMASGAN(epochs=(1, 1, 1, 1), hidden=16, bank_size=16, score_bank_size=16, progress=False)
    model.fit(train, val_data=train[:10])
    assert model.config.space == "auto" and model.space_ == "unit"
    assert model.stage_report(train)["space"] == {"chosen": f"unit/{model.blur_}", "candidates": model.space_scores_}
    model.save(tmp_path / "m.pt")
    loaded = OMASGAN.load(tmp_path / "m.pt")
    assert (loaded.space_, loaded.blur_, loaded.space_scores_) == (model.space_, model.blur_, model.space_scores_)
    torch.testing.assert_close(loaded.decision_function(train[:5]), model.decision_function(train[:5]))
    # The choice draws on its own generator: "auto" trains exactly as the space it chose, set by hand.
    fixed = OMASGAN(epochs=(1, 1, 1, 1), hidden=16, bank_size=16, score_bank_size=16, progress=False,
                    space=model.space_, blur=model.blur_).fit(train, val_data=train[:10])
    assert fixed.space_scores_ == {}
    np.testing.assert_array_equal(fixed.decision_function(train), model.decision_function(train))


def test_choose_keeps_pixels_unless_another_space_is_clearly_better():
    """A candidate wins only by more than the standard error of pixels' AUROC; here the unit space
    scores a little higher on 20 held-out images (within that error), so pixels stay."""
    images = _images(3, "scale", n=100)
    space, blur, scores = spaces.choose(images, offset=0.0)
    assert scores["unit/0"] > scores["pixel/0"], scores
    assert scores["unit/0"] - scores["pixel/0"] < spaces.auroc_standard_error(scores["pixel/0"], 20, 20)
    assert (space, blur) == ("pixel", 0)


def test_auroc_standard_error_matches_a_simulation():
    rng = np.random.default_rng(0)
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.zeros(100), np.ones(100)]
    draws = [roc_auc_score(labels, np.r_[rng.normal(0, 1, 100), rng.normal(1.8, 1, 100)]) for _ in range(500)]
    assert spaces.auroc_standard_error(float(np.mean(draws)), 100, 100) == pytest.approx(np.std(draws), rel=0.15)
    assert spaces.auroc_standard_error(1.0, 10, 10) == 0.0

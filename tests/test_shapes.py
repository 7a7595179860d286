"""The procedural shapes set: deterministic, balanced, varied within each class, inside the frame,
and split like MNIST."""
import torch

from omasgan import data
from omasgan.shapes import NUM_CLASSES, _draw_class, make_shapes


def test_same_seed_same_images_other_seed_other_images():
    a, la = make_shapes(20, 3)
    b, lb = make_shapes(20, 3)
    c, _ = make_shapes(20, 4)
    assert torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)


def test_shapes_dtypes_range_and_balance():
    x, y = make_shapes(30, 0)
    assert x.shape == (300, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= 0 and x.max() <= 1
    assert torch.bincount(y, minlength=NUM_CLASSES).tolist() == [30] * NUM_CLASSES
    assert not torch.equal(y[:30], torch.zeros(30, dtype=torch.long))  # shuffled, not class by class


def test_brightness_and_ink_vary_within_every_class():
    x, y = make_shapes(200, 0)
    for c in range(NUM_CLASSES):
        images = x[y == c, 0]
        mean = images.mean(dim=(1, 2))  # mean brightness
        ink = (images > 0.25).float().mean(dim=(1, 2))  # share of the image the shape covers
        assert mean.std() > 0.02 and ink.std() > 0.015, (c, mean.std(), ink.std())


def test_every_shape_stays_inside_the_frame():
    gen = torch.Generator().manual_seed(0)
    for c in range(NUM_CLASSES):
        _, mask = _draw_class(c, 300, gen, with_mask=True)
        border = torch.cat([mask[:, 0], mask[:, -1], mask[:, :, 0], mask[:, :, -1]], dim=1)
        assert border.max() == 0 and (mask.amax(dim=(1, 2)) == 1).all(), c


def test_loo_split_and_dev_split_like_mnist():
    split = data.make_split("shapes", 3)
    assert split.train.shape[1:] == (1, 32, 32) and split.train.min() >= -1 and split.train.max() <= 1
    assert (split.train[:, :, :2] == -1).all()  # the padding is the background -1
    assert len(split.train) + len(split.val) == 9 * 2500 and (split.train_labels != 3).all()
    assert len(split.test_x) == 5000 and int(split.test_y.sum()) == 500
    dev = data.make_split("shapes", 3, dev=True)
    assert len(dev.test_x) == 2500 and int(dev.test_y.sum()) > 0
    assert len(dev.train) + len(dev.val) == 22500 - int((dev.test_y == 0).sum())

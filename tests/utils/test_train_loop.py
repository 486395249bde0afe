"""The shared epoch loop (``clip2nerf.utils.train_loop``) on a tiny linear model."""

import pytest
import torch

from clip2nerf.errors import UserError
from clip2nerf.utils.checkpoint import load_checkpoint, seeded
from clip2nerf.utils.train_loop import TrainLoop, adamw_one_cycle
from clip2nerf.utils.training import NonFiniteTrainingError

X = torch.linspace(-1, 1, 24).reshape(12, 2)
Y = X.sum(1, keepdim=True) * 3


def make_loop(path, epochs=4, **kw):
    with seeded(0):
        model = torch.nn.Linear(2, 1)
    opt, sched = adamw_one_cycle(model.parameters(), 0.05, 0.0, epochs * 3)
    return TrainLoop(model, opt, sched, epochs, "--lr 0.05", checkpoint=path,
                     config={"lr": 0.05}, generator=torch.Generator().manual_seed(1),
                     progress=False, **kw)


def run(loop, scale=1.0, **kw):
    def train_epoch(epoch):
        order = torch.randperm(12, generator=loop.generator)  # state kept across epochs
        losses = [loop.step(((loop.model(X[i]) - Y[i]) ** 2).mean() * scale)
                  for i in order.split(4)]
        return {"loss": sum(losses) / len(losses)}

    return loop.run(train_epoch, lambda e: {"val": float(loop.model(X).detach().mean())}, **kw)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    full = make_loop(tmp_path / "a.pt")
    run(full)

    def stop(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    cut = make_loop(tmp_path / "b.pt", save_every_s=1e9)
    with pytest.raises(KeyboardInterrupt):
        run(cut, after_epoch=stop)
    assert load_checkpoint(tmp_path / "b.pt", "test").epoch == 2  # saved on the interruption
    resumed = make_loop(tmp_path / "b.pt")
    assert resumed.resume() and resumed.start_epoch == 2
    history = run(resumed)
    assert history == full.history and [h["epoch"] for h in history] == [1, 2, 3, 4]
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def test_other_settings_are_refused(tmp_path):
    run(make_loop(tmp_path / "c.pt", epochs=2))
    other = make_loop(tmp_path / "c.pt", epochs=2)
    other.config = {"lr": 0.1}
    with pytest.raises(UserError, match="another run"):
        other.resume(refused="another run")


def test_divergence_stops_and_saves_nothing(tmp_path):
    loop = make_loop(tmp_path / "d.pt")
    with pytest.raises(NonFiniteTrainingError, match="--lr 0.05"):
        run(loop, scale=float("inf"))
    assert not (tmp_path / "d.pt").exists()


@pytest.mark.parametrize("pct_start", [0.1, 0.3, 0.5])
def test_one_cycle_schedule_with_very_few_steps(pct_start):
    """Any step count works, also when the warm-up would be exactly one step long (nf2vec's
    10% of 10 steps: torch divided 0 by 0) or shorter; the peak is reached and never passed."""
    for total in range(1, 25):
        model = torch.nn.Linear(2, 1)
        opt, sched = adamw_one_cycle(model.parameters(), 0.05, 0.0, total, pct_start=pct_start)
        lrs = [sched.get_last_lr()[0]]
        for _ in range(total - 1):
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr()[0])
        assert all(0 < lr <= 0.05 + 1e-12 for lr in lrs), (total, lrs)

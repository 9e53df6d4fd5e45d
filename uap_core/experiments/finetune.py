"""Finding 7, fine-tuning does not make the model robust.

The paper fine-tunes its network on training images of which a share carries a universal
perturbation (computed against the current network, true labels kept), then computes a fresh
universal perturbation against the fine-tuned network: the fooling rate falls but stays high, and
repeating the procedure does not help much.

Here a COPY of the shipped model (fresh architecture + shipped weights) is fine-tuned; neither the
weights file nor a model from :func:`uap_core.models.load_model` (which the web app caches and shares)
is touched. Each round:
``uaps_per_round`` perturbations against the current model (the first one, judged on the test
images, is that model's fooling rate), then ``epochs`` epochs on ``n_finetune`` training images,
``share`` of them perturbed by one of those perturbations drawn at random.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_number, check_positive_int
from ..metrics import accuracy
from ..models import DEFAULT_MODEL, build_model, fold_batchnorm, weights_path
from ..settings import UAPSettings
from ..train import augment
from .common import AttackResult, Judge, Progress, Run, check_count, dataset, test_data, train_images

BATCH_SIZE = 128


@dataclass(frozen=True, kw_only=True)
class FinetuneResult(AttackResult):
    NAME = "finetune"

    model: str
    norm: str
    xi: float
    n_train: int  # training images each universal perturbation is built from
    rounds: int  # asked for; ``clean_accuracy`` holds rounds + 1 entries when complete
    uaps_per_round: int
    epochs: int  # per round
    n_finetune: int  # training images per fine-tuning epoch
    share: float  # of them carrying a universal perturbation
    lr: float
    seed: int
    clean_accuracy: list[float]  # [stage] on the test images; stage 0 is the shipped model, stage r after round r
    fooling_rates: list[float]  # [stage] test fooling rate of a fresh UAP computed against that stage's model
    previous_fooling_rates: list[float]  # [stage - 1] of the previous stage's UAP on this stage's model (trained on)


def finetuning_copy(name: str) -> nn.Module:
    """A new model object with the shipped weights, in training mode: nothing shared with the cached model.

    Its throw-away initial weights are drawn inside a forked generator, so the process-wide one (which
    the web app's other users draw from) is neither reseeded nor advanced."""
    with torch.random.fork_rng(devices=[]):
        net = build_model(name)
    net.load_state_dict(torch.load(weights_path(name), map_location="cpu", weights_only=True))
    return net.train()


def attack_copy(net: nn.Module) -> nn.Module:
    """A frozen, eval-mode, batch-norm-folded copy of the model being fine-tuned, for attacks and evaluation."""
    return fold_batchnorm(copy.deepcopy(net))


def finetune_epoch(
    net: nn.Module, pool: torch.Tensor, share: float, n: int, lr: float, generator: torch.Generator, report
) -> None:
    """One epoch on ``n`` training images; ``share`` of them get a perturbation drawn from ``pool`` (k, C, H, W).

    ``report(fraction_of_the_epoch)`` is called after every batch."""
    data = dataset("train")
    order = torch.randperm(len(data), generator=generator)[:n]
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    net.train()
    batches = order.split(BATCH_SIZE)
    for done, batch in enumerate(batches):
        images = augment(data.images[batch], generator)  # flips and shifts, as in the original training
        chosen = torch.rand(len(batch), generator=generator) < share
        picks = pool[torch.randint(len(pool), (len(batch),), generator=generator)]
        images = torch.where(chosen.view(-1, 1, 1, 1), (images + picks).clamp(0, 1), images)
        loss = F.cross_entropy(net(images), data.labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        report((done + 1) / len(batches))


def run_finetune(
    model: str = DEFAULT_MODEL,
    rounds: int = 2,
    uaps_per_round: int = 2,
    epochs: int = 1,
    n_finetune: int = 3000,
    share: float = 0.5,
    lr: float = 5e-4,
    norm: str = "inf",
    xi: float | None = None,
    algorithm: str = "fast",
    n_train: int = 500,
    max_passes: int = 5,
    delta: float = 0.2,
    seed: int = 0,
    n_test: int | None = None,
    progress: Progress | None = None,
) -> FinetuneResult:
    """Clean accuracy and fresh-UAP test fooling rate of the shipped model and after each fine-tuning round.

    ``xi`` None: the norm's default (:data:`uap_core.DEFAULT_XI`); ``n_test`` None: the whole test split.
    """
    attack = UAPSettings(norm=norm, xi=xi, algorithm=algorithm, max_passes=max_passes, delta=delta)
    for value, name in ((rounds, "rounds"), (uaps_per_round, "uaps_per_round"), (epochs, "epochs")):
        check_positive_int(value, name)
    n_finetune = check_count(n_finetune, "n_finetune", "train")
    n_train = check_count(n_train, "n_train", "train")
    for value, name in ((share, "share"), (lr, "lr")):
        check_number(value, name, low=0, high=1, low_open=True)
    n_test = check_count(n_test, "n_test", "test")
    run = Run(progress)
    test = test_data(n_test)
    net = finetuning_copy(model)
    generator = torch.Generator().manual_seed(seed)
    # Progress weights: a UAP and an epoch on n_finetune images cost about the same per image visit.
    uap_cost, epoch_cost = attack.max_passes * n_train, n_finetune
    total = rounds * (uaps_per_round * uap_cost + epochs * epoch_cost) + uap_cost
    done = 0
    accuracies, rates, previous, last_uap = [], [], [], None
    with run.stoppable():
        for stage in range(rounds + 1):
            frozen = attack_copy(net)
            judge = Judge.on(frozen, test.images)
            if last_uap is not None:
                previous.append(judge.fooling_rate(last_uap))
            pool = []
            for j in range(uaps_per_round if stage < rounds else 1):
                uap_seed = seed + stage * uaps_per_round + j
                span = (done / total, (done + uap_cost) / total)
                label = f"round {stage}: UAP {j + 1}"
                pool.append(
                    run.uap(attack, frozen, train_images(n_train, uap_seed), uap_seed, span, label).perturbation
                )
                done += uap_cost
            last_uap = pool[0]
            accuracies.append(accuracy(frozen, test.images, test.labels))
            rates.append(judge.fooling_rate(last_uap))
            if stage == rounds:
                break
            for epoch in range(epochs):
                start = done

                def report(fraction: float, start=start, epoch=epoch, stage=stage) -> None:
                    message = f"round {stage + 1}: fine-tuning epoch {epoch + 1}/{epochs}"
                    run.report((start + fraction * epoch_cost) / total, message)

                finetune_epoch(net, torch.stack(pool), share, n_finetune, lr, generator, report)
                done += epoch_cost
    return FinetuneResult(
        model=model, norm=attack.norm, xi=attack.xi, algorithm=algorithm, max_passes=max_passes, delta=delta,
        n_train=n_train, rounds=rounds, uaps_per_round=uaps_per_round, epochs=epochs, n_finetune=n_finetune,
        share=share, lr=lr, seed=seed, n_test=n_test, clean_accuracy=accuracies, fooling_rates=rates,
        previous_fooling_rates=previous, seconds=run.seconds, complete=not run.stopped,
    )  # fmt: skip

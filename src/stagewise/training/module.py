"""The Lightning module: a sequence-classification model scoring (query, passage) pairs, one loss per stage."""

from __future__ import annotations

import time

import lightning as L
import torch

from .losses import compute_loss


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite: the weights that follow are no model."""


class CrossEncoderModule(L.LightningModule):
    """``model`` trained with a stage's ``settings`` (a ``stagewise.settings.StageSettings``: loss, temperature, lr,
    weight_decay, weight_decay_all, warmup_steps)."""

    def __init__(self, model, settings):
        super().__init__()
        self.model = model
        self.loss_name, self.lr, self.weight_decay = settings.loss, settings.lr, settings.weight_decay
        self.warmup_steps, self.temperature = settings.warmup_steps, settings.temperature
        self.weight_decay_all = settings.weight_decay_all
        # what training processed (the efficiency table's pairs and tokens) and the seconds its attempts took: kept in
        # checkpoints, so a resumed training counts the steps its weights went through once and the time of every
        # attempt up to its last checkpoint
        self.seen = {"pairs": 0, "tokens": 0, "seconds": 0.0}
        self.attempt_started = time.perf_counter()
        self.held_out = []

    def seconds(self) -> float:
        """This training's seconds over all attempts: those checkpointed before this attempt, and this attempt's."""
        return self.seen.get("seconds", 0.0) + time.perf_counter() - self.attempt_started

    def scores(self, batch):
        """(queries, group) scores: each length-sorted chunk of pairs is scored on its own and put back in place;
        padding entries of ragged groups score 0 (the losses mask them)."""
        positions, logits = [], []
        for chunk_positions, encoded in batch["chunks"]:
            positions += chunk_positions
            logits.append(self.model(**encoded).logits.view(-1).float())
        flat = torch.cat(logits)
        index = torch.tensor(positions, device=flat.device)
        scores = flat.new_zeros(batch["labels"].numel()).index_copy(0, index, flat)
        return scores.view(-1, batch["group_size"])

    def compute_loss(self, batch):
        return compute_loss(self.loss_name, self.scores(batch), batch["labels"], batch["mask"], self.temperature)

    def training_step(self, batch, batch_idx):
        loss = self.compute_loss(batch)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"training diverged: the loss is {float(loss)} at optimizer step {self.global_step} "
                f"(learning rate {self.lr:g}); lower training.<stage>.lr or check the inputs of "
                "this step. No model was written"
            )
        for _, encoded in batch["chunks"]:
            self.seen["pairs"] += int(encoded["input_ids"].shape[0])
            self.seen["tokens"] += int(encoded["attention_mask"].sum())
        self.log("train_loss", loss, on_step=True, prog_bar=False, batch_size=batch["labels"].shape[0])
        # the learning rate the optimizer applies at this step (read back by tests and by readers of the log)
        self.log(
            "lr",
            self.optimizers().optimizer.param_groups[0]["lr"],
            on_step=True,
            prog_bar=False,
            batch_size=batch["labels"].shape[0],
        )
        return loss

    def on_save_checkpoint(self, checkpoint):
        checkpoint["stagewise_seen"] = {**self.seen, "seconds": self.seconds()}

    def on_load_checkpoint(self, checkpoint):
        self.seen = dict(checkpoint.get("stagewise_seen", self.seen))

    def on_validation_epoch_start(self):
        #: (query id, docids, grades, scores) of each held-out group of this validation (``selection.Selection``)
        self.held_out = []

    def validation_step(self, batch, batch_idx):
        scores = self.scores(batch)
        loss = compute_loss(self.loss_name, scores, batch["labels"], batch["mask"], self.temperature)
        self.log("val_loss", loss, on_epoch=True, batch_size=batch["labels"].shape[0])
        if "judgments" in batch:
            for (qid, docids, grades), row in zip(batch["judgments"], scores.tolist(), strict=True):
                self.held_out.append((qid, docids, grades, row[: len(docids)]))
        return loss

    def configure_optimizers(self):
        trainable = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        # the released code decays every parameter (AdamW's default); the usual practice spares biases and LayerNorm
        exempt = (lambda n: False) if self.weight_decay_all else (lambda n: "bias" in n or "LayerNorm" in n)
        decay = [p for n, p in trainable if not exempt(n)]
        no_decay = [p for n, p in trainable if exempt(n)]
        groups = [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=self.lr)
        warmup = max(1, self.warmup_steps)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

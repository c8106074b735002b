"""The Lightning module: a sequence-classification model scoring (query, passage) pairs, one loss per stage."""

from __future__ import annotations

import lightning as L
import torch

from .losses import localized_contrastive_loss, ranknet_loss


class CrossEncoderModule(L.LightningModule):
    def __init__(self, model, loss: str, lr: float, weight_decay: float, warmup_steps: int):
        super().__init__()
        self.model = model
        self.loss_name, self.lr, self.weight_decay, self.warmup_steps = loss, lr, weight_decay, warmup_steps

    def scores(self, batch):
        logits = self.model(**batch["encoded"]).logits.squeeze(-1)
        return logits.view(-1, batch["group_size"]).float()

    def compute_loss(self, batch):
        scores = self.scores(batch)
        if self.loss_name == "lce":
            # padded entries can never win the softmax
            return localized_contrastive_loss(scores.masked_fill(~batch["mask"], -1e4))
        return ranknet_loss(scores, batch["labels"], batch["mask"])

    def training_step(self, batch, batch_idx):
        loss = self.compute_loss(batch)
        self.log("train_loss", loss, on_step=True, prog_bar=False, batch_size=batch["labels"].shape[0])
        return loss

    def configure_optimizers(self):
        decay = [p for n, p in self.model.named_parameters() if p.requires_grad and not ("bias" in n or "LayerNorm" in n)]
        no_decay = [p for n, p in self.model.named_parameters() if p.requires_grad and ("bias" in n or "LayerNorm" in n)]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": self.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=self.lr)
        warmup = max(1, self.warmup_steps)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

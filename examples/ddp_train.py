"""Data-parallel training on several processes or GPUs with torchrun (PyTorch DDP).

    torchrun --nproc_per_node=2 examples/ddp_train.py      # 2 CPU processes (gloo) or 2 GPUs
    python examples/ddp_train.py                            # the same script, one process
"""

import os

import torch
import torch.distributed as dist
from _budget import budget, subset

from cdmtehr import CDMTSynthesizer
from cdmtehr.datasets import load_physionet2012

distributed = "WORLD_SIZE" in os.environ  # set by torchrun
if distributed:
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
rank = dist.get_rank() if distributed else 0

df, roles = load_physionet2012(return_roles=True)
df = subset(df, roles["id_col"])
# Every rank fits the same estimator; each takes its share of every batch and DDP averages
# the gradients, so all ranks end with the same weights.
synth = CDMTSynthesizer(random_state=0, verbose=rank == 0, **budget()).fit(df, **roles)

if rank == 0:
    synth.save("model_ddp.cdmt")
    print("saved model_ddp.cdmt;", synth.sample(5, random_state=0)["patient_id"].nunique(), "patients")
if distributed:
    dist.destroy_process_group()

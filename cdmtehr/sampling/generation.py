"""generate: a whole sampling run of a fitted denoiser, one chunk of patients at a time;
`generate_stays`: the same for a fitted model of one or two stages."""

from __future__ import annotations

import numpy as np
import torch

from ..diffusion.batches import length_groups
from ..preprocessing.encoded import pad_steps
from ..profiles import draw_profiles
from ..profiles.conditioning import decode_keeping, given_profile, holding_profile
from .guidance import classifier_free_guidance
from .inpainting import sample_replacement
from .samplers import SAMPLERS


def generate(
    denoiser,
    schedule,
    classes,
    *,
    steps: int,
    sampler: str = "euler",
    guidance_scale: float = 1.0,
    generator: torch.Generator,
    batch_size: int,
    device="cpu",
    progress: bool = False,
    known=None,
    profiles=None,
):
    """Sample `batch_size` patients at a time; yield each chunk decoded into numpy arrays.

    Memory stays flat in the number of patients. The noise is drawn chunk after chunk from
    one generator, so the chunks of one run, whatever is done with them, hold the same
    patients as any other run with the same generator state. With drawn `profiles`, a chunk's
    states are padded to its longest drawn stay, and a chunk whose drawn lengths differ widely
    is sampled in groups of similar length (`cdmtehr.diffusion.batches.length_groups`), so
    that memory follows the rows drawn rather than patients x the longest stay.

    Parameters
    ----------
    denoiser : Denoiser
        The fitted (EMA) denoiser, on `device`.
    schedule : FactorizedSchedule or EDMSchedule
        Its noise schedule, on `device`.
    classes : ndarray of shape (n,), int
        Condition class of each patient (ignored by an unconditional denoiser).
    steps : int
        Sampler steps.
    sampler : {"euler", "heun", "sde"}, default="euler"
    guidance_scale : float, default=1.0
        Classifier-free guidance weight (conditional denoisers only).
    generator : torch.Generator
        Source of the starting noise (and of the SDE sampler's fresh noise), on the CPU.
    batch_size : int
        Patients per chunk.
    device : str or torch.device, default="cpu"
    progress : bool, default=False
        Show a tqdm bar over the patients generated (nothing without tqdm installed).
    known : callable, optional
        ``known(start, stop) -> (clean, mask)``: the clean states (B, M) of patients
        ``start:stop`` and where they are known (bool, B x M). The known numbers are kept by
        replacement (`inpainting.sample_replacement`) and the rest is drawn given them.
    profiles : callable, optional
        ``profiles(start, stop) -> StayProfile``: a drawn profile of each of the patients
        ``start:stop`` (`cdmtehr.profiles.draw_profiles`), asked for when their chunk is
        reached, so that their charts take memory for one chunk at a time: the denoiser is
        given it, its last steps hold it and the decoder keeps it
        (`cdmtehr.profiles.conditioning`).

    Yields
    ------
    dict of ndarray
        `Denoiser.decode`'s arrays of the chunk, and "condition", its classes.
    """
    null = denoiser.n_classes
    conditional = denoiser.n_classes > 0
    sample = SAMPLERS[sampler]
    extra = {"generator": generator} if sampler == "sde" else {}
    guided = classifier_free_guidance(denoiser, guidance_scale, null) if conditional else denoiser
    bar = _patients_bar(len(classes)) if progress else None
    for start in range(0, len(classes), batch_size):
        chunk = np.asarray(classes[start : start + batch_size])
        condition = torch.as_tensor(chunk)
        if not conditional:
            condition = torch.full_like(condition, null)
        condition = condition.to(device)
        chunk_profiles = None
        if profiles is not None:
            chunk_profiles = profiles(start, start + len(chunk)).to(device)
        groups = [torch.arange(len(chunk))]
        if chunk_profiles is not None and known is None:  # known states have every step
            groups = length_groups(chunk_profiles.lengths)
        parts = []
        for group in groups:
            profile = None
            stay_steps = denoiser.layout.max_length
            if chunk_profiles is not None:
                profile = chunk_profiles[group.to(device)]
                if known is None:  # padded to the group's longest stay
                    stay_steps = int(profile.lengths.max())
                guided = given_profile(denoiser, profile)
                if conditional:
                    guided = classifier_free_guidance(guided, guidance_scale, null)
                guided = holding_profile(guided, denoiser, profile)
            # One row of noise levels per step, computed when the sampler reaches it: memory
            # does not grow with `steps` (a (steps + 1) x M grid of 10**5 steps would take
            # gigabytes).
            sigmas = schedule.sigma_steps(
                steps, transform=lambda row: denoiser.expand_sigma(row.to(device).float()),
                length=stay_steps,
            )
            size = denoiser.layout.cut(stay_steps).size
            noise = torch.randn((len(group), size), generator=generator)
            x = noise.to(device, torch.float64) * sigmas[0].double()  # sigma_max
            group_condition = condition[group.to(device)]
            if known is None:
                x = sample(guided, x, sigmas, condition=group_condition, **extra)
            else:
                clean, mask = known(start, start + len(chunk))
                x = sample_replacement(
                    guided, x, sigmas, clean=clean.to(device), known=mask.to(device),
                    sampler=sampler, condition=group_condition, generator=generator,
                )
            parts.append(denoiser.decode(x) if profile is None
                         else decode_keeping(denoiser, x, profile))
        if bar is not None:
            bar.update(len(chunk))
            if start + batch_size >= len(classes):
                bar.close()
        yield {**_in_patient_order(parts, groups), "condition": chunk}


def _in_patient_order(parts, groups) -> dict:
    """The decoded arrays of the groups of a chunk, as one chunk in its patients' order,
    padded to its longest stay."""
    if len(parts) == 1:
        return parts[0]
    steps = max(part["numeric"].shape[1] for part in parts)
    order = np.argsort(torch.cat(groups).numpy(), kind="stable")
    return {
        name: np.concatenate(
            [pad_steps(part[name], steps) if part[name].ndim == 3 else part[name]
             for part in parts]
        )[order]
        for name in parts[0]
    }


def generate_stays(denoiser, schedule, profile_model, classes, *, generator, known=None,
                   **options):
    """`generate` the patients of `classes` from a fitted model of one or two stages.

    Parameters
    ----------
    denoiser, schedule
        The fitted denoiser and its noise schedule (`generate`).
    profile_model : ClassProfiles or None
        The first stage of a two-stage model (`cdmtehr.profiles.fit_profile_model`): each
        patient's profile and charts are drawn from it (`cdmtehr.profiles.draw_profiles`, a
        chunk of patients at a time), then the stay given them. None, or `known` patients
        (completion, whose known values condition the stay instead), draw the stay alone.
    classes : ndarray of shape (n,), int
        Condition class of each patient.
    generator : torch.Generator
        Source of the profiles' and the stays' noise, on the CPU.
    known : callable, optional
        As in `generate`.
    **options
        The other keyword arguments of `generate` (`steps`, `sampler`, `guidance_scale`,
        `batch_size`, `device`, `progress`).

    Returns
    -------
    iterator of dict of ndarray
        `generate`'s chunks.
    """
    profiles = None
    if known is None and profile_model is not None:
        def profiles(start, stop):
            return draw_profiles(profile_model, classes[start:stop], denoiser.layout, generator)
    return generate(denoiser, schedule, classes, generator=generator, known=known,
                    profiles=profiles, **options)


def _patients_bar(total: int):
    """A tqdm bar over patients, or None without tqdm (an optional extra)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="sample", unit="patient", leave=True)

"""Dense vision pre-training of a tiny Qwen2-VL vision tower on the shapes world.

Why: trained from scratch through the language model alone, the vision tower of a tiny reward model gets
almost no gradient once the answer format is learned, so verdicts never become grounded
(docs/research/default-model.md). Here the tower is first taught directly, with a classifier per merged
visual token, what the world's specs say is in each cell of the image: colour, shape, how many objects
like it, where the other object is; for clips, how it moves, how fast, whether it changes and when it
appears; and per image, the blur, noise, artefact and flicker levels. The heads are thrown away; the tower
keeps features from which the language model can read the scene. Batches are rendered from fresh specs
and put into the processor's pixel layout with numpy (the HF processor would cost more than rendering).
Most media are drawn in a random palette (colour labels ignored for them): the train split pairs colours
and shapes in fixed ways, and without this the tower learns shape partly from colour and fails on the
held-out colour x shape pairs (docs/research/default-model.md, session 3).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from unireward.data import shapes as sw
from unireward.tasks import Task

COLOURS = tuple(sw.COLOURS)
DIRS = tuple(sw.DIRECTIONS)
# Per-cell targets: name -> number of classes (class 0 always means "no object centred in this cell").
CELL_TARGETS = {
    "colour": 1 + len(COLOURS),
    "shape": 1 + len(sw.SHAPES),
    "count_same": 4,  # objects in the image with this colour and shape: 1, 2, 3
    "relation": 1 + len(sw.RELATIONS),  # where it is relative to the other object (two-object scenes only)
    "end_colour": 1 + len(COLOURS),  # after a mid-clip change (= colour without one; images: = colour)
    "end_shape": 1 + len(sw.SHAPES),
    "motion": 2 + len(DIRS),  # 1 static, then a direction
    "speed": 4,  # 1 static, 2 slow, 3 fast
    "appear": 5,  # 1 + quarter of the clip in which it first shows
}
GLOBAL_TARGETS = {"blur": 3, "noise": 3, "artefacts": 3, "flicker": 3, "is_video": 2}
# Where the training examples' media come from: (task, which spec of the example is the media).
SOURCES = (
    (Task.IMAGE_GEN, "candidate"),
    (Task.IMAGE_UND, "prompt"),
    (Task.VIDEO_GEN, "candidate"),
    (Task.VIDEO_UND, "prompt"),
)


@dataclass
class VisionPretrainConfig:
    minutes: float | None = 10.0  # None: no clock limit, `max_steps` alone ends it
    max_steps: int = 100_000
    batch_size: int = 32  # media per step, half images and half clips
    learning_rate: float = 2e-3
    image_size: int = 64  # the world's render size (the processor resizes to the model's size)
    num_frames: int = 8
    seed: int = 0
    eval_every: int = 200
    eval_n: int = 256
    # Share of training media drawn in a random palette (colour labels ignored): shape features must then
    # work in any colour, which is what held-out colour x shape pairs ask of them.
    recolour_share: float = 0.7
    # Least RGB distance of a random-palette colour from the light background (the nearest named colour,
    # yellow, is ~240 away).
    palette_contrast: float = 90.0
    # Teach shape only on random-palette media: in the world's own palette the train split never draws, e.g.,
    # a red cross, and shape labels there teach the tower that exact red means "not a cross".
    shape_from_random_palette_only: bool = True
    # Loss weights of the harder targets (every other target weighs 1).
    loss_weights: dict = field(default_factory=lambda: {"shape": 4.0, "end_shape": 2.0, "relation": 3.0})
    # Weight of a cell whose object looks different at the end of its frames in the end-look losses (1:
    # as every cell). Few cells change, and the tower reads their end look worst (`end_changed`, research
    # log session 18).
    changing_cell_weight: float = 1.0
    # Share of the budget (the clock, or `max_steps` without one) at its end over which the rate falls
    # linearly to a tenth, as SFT's `lr_decay_share`; 0 keeps it constant, as every stage 1 up to session 42.
    lr_decay_share: float = 0.0
    log: bool = True


MIN_COVER = 0.3  # share of a cell an object must cover to label it; thinner overlaps are left unlabelled
IGNORE = -100


def _coverage(owners: np.ndarray, n_objects: int, cells: int) -> np.ndarray:
    """(n_objects, cells*cells): share of each cell's pixels where each object is on top."""
    side = owners.shape[0] // cells
    grid = owners[: side * cells, : side * cells].reshape(cells, side, cells, side).transpose(0, 2, 1, 3)
    grid = grid.reshape(cells * cells, side * side)
    if not n_objects:
        return np.zeros((0, cells * cells))
    return np.stack([(grid == i + 1).mean(1) for i in range(n_objects)])


def _assign(cover: np.ndarray, labels: list[dict], cell: dict, threshold: float) -> None:
    """Each cell takes the labels of the object covering most of it, if enough; partial cells are ignored."""
    if not len(cover):
        return
    best, amount = cover.argmax(0), cover.max(0)
    for c in range(cover.shape[1]):
        if amount[c] >= threshold:
            for k, v in labels[best[c]].items():
                cell[k][c] = v
        elif amount[c] > 0:
            for k in cell:
                cell[k][c] = IGNORE


def scene_targets(
    spec: sw.ImageSpec | sw.VideoSpec, cells: int, size: int = 64, num_frames: int = 8, slots: int = 1
):
    """Per-cell and global class labels of one image or clip, straight from its spec.

    A cell is labelled with the object that covers most of it (for clips: most of it over the frames of
    its temporal slot), so every label can be read from the pixels of and around that cell. A clip cut
    into `slots` temporal patches gets cells*cells labels per slot, slot after slot (the order of the
    tower's tokens); each slot's colour and shape are the look at its first frame, its end colour and end
    shape the look at its last, because the tower's attention never crosses slots.
    """
    glob = {k: 0 for k in GLOBAL_TARGETS}
    glob["blur"] = sw.quality_level(spec.blur)
    glob["noise"] = sw.quality_level(spec.noise)
    if isinstance(spec, sw.VideoSpec):
        glob["is_video"] = 1
        glob["flicker"] = 0 if not spec.flicker else (1 if spec.flicker_kind == "drop" else 2)
        return _clip_cells(spec, cells, size, num_frames, slots), glob
    cell = {k: np.zeros(cells * cells, dtype=np.int64) for k in CELL_TARGETS}
    glob["artefacts"] = sw.quality_level(spec.artefacts)
    objs = spec.objects
    labels = []
    for o in objs:
        colour, shape = COLOURS.index(o.colour) + 1, sw.SHAPES.index(o.shape) + 1
        relation = IGNORE  # "no relation" would be the answer for most objects and teach nothing
        if len(objs) == 2:
            other = objs[1] if o is objs[0] else objs[0]
            relation = sw.RELATIONS.index(sw.relation_of(o, other)) + 1
        labels.append(
            {
                "colour": colour,
                "shape": shape,
                "end_colour": colour,
                "end_shape": shape,
                "count_same": min(3, sum(p.combo == o.combo for p in objs)),
                "relation": relation,
                "motion": 1,
                "speed": 1,
                "appear": 1,
            }
        )
    _assign(_coverage(sw.owner_map(objs, size), len(objs), cells), labels, cell, MIN_COVER)
    return cell, glob


def _clip_cells(spec: sw.VideoSpec, cells: int, size: int, num_frames: int, slots: int) -> dict:
    """scene_targets' cell labels of a clip whose frames are cut into `slots` equal temporal patches."""
    if num_frames % slots:
        raise ValueError(f"{num_frames} frames do not cut into {slots} equal temporal patches")
    tracks, times, per = spec.tracks, sw.frame_times(num_frames), num_frames // slots
    cell = {k: [] for k in CELL_TARGETS}
    for s in range(slots):
        frames = times[s * per : (s + 1) * per]
        labels = []
        for tr in tracks:
            start = tr.at(max(frames[0], tr.appear))
            end, speed = tr.at(frames[-1]) or start, tr.speed
            quarter = min(3, int(tr.appear * 4))
            labels.append(
                {
                    "colour": COLOURS.index(start.colour) + 1,
                    "shape": sw.SHAPES.index(start.shape) + 1,
                    "end_colour": COLOURS.index(end.colour) + 1,
                    "end_shape": sw.SHAPES.index(end.shape) + 1,
                    "count_same": min(3, sum(t.obj.combo == tr.obj.combo for t in tracks)),
                    "relation": IGNORE,
                    "motion": 1 if speed is None else 2 + DIRS.index(tr.direction),
                    "speed": {None: 1, "slow": 2, "fast": 3}[speed],
                    # the quarter it first shows in; 1 ("there from the start") in a later slot it was
                    # already in at that slot's first frame
                    "appear": 1 if s and tr.at(frames[0]) is not None else 1 + quarter,
                }
            )
        slot_cell = {k: np.zeros(cells * cells, dtype=np.int64) for k in CELL_TARGETS}
        cover = sum(
            _coverage(sw.owner_map(tuple(tr.at(t) for tr in tracks), size), len(tracks), cells)
            for t in frames
        )
        _assign(cover / len(frames), labels, slot_cell, MIN_COVER / 2)
        for k in CELL_TARGETS:
            cell[k].append(slot_cell[k])
    return {k: np.concatenate(v) for k, v in cell.items()}


class PixelPacker:
    """Frames -> (pixel_values, grid_thw) in the exact layout of the Qwen2-VL image/video processors.

    Frames are resized (bicubic) to the processor's square size, rescaled, normalised with its mean/std,
    padded to a multiple of the temporal patch by repeating the last frame (an image is repeated to fill
    one temporal patch) and cut into merge-window-ordered patches.
    """

    def __init__(self, image_processor, size: int) -> None:
        self.patch = image_processor.patch_size
        self.merge = image_processor.merge_size
        self.tps = image_processor.temporal_patch_size
        self.size = size
        self.mean = np.asarray(image_processor.image_mean, dtype=np.float32).reshape(1, 3, 1, 1)
        self.std = np.asarray(image_processor.image_std, dtype=np.float32).reshape(1, 3, 1, 1)

    def frames_array(self, frames: list) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        arr = np.stack([np.asarray(f.convert("RGB"), dtype=np.float32) for f in frames])  # T,H,W,C
        t = torch.from_numpy(arr).permute(0, 3, 1, 2)
        if t.shape[-1] != self.size or t.shape[-2] != self.size:
            t = F.interpolate(t, size=(self.size, self.size), mode="bicubic", align_corners=False)
            t = t.round().clamp(0, 255)
        return ((t.numpy() / 255.0) - self.mean) / self.std

    def pack(self, frames: list) -> tuple[np.ndarray, tuple[int, int, int]]:
        x = self.frames_array(frames)
        pad = (-len(x)) % self.tps
        if pad:
            x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
        p, m, tps = self.patch, self.merge, self.tps
        gt, gh, gw = len(x) // tps, self.size // p, self.size // p
        x = x.reshape(gt, tps, 3, gh // m, m, p, gw // m, m, p)
        x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
        return x.reshape(gt * gh * gw, 3 * tps * p * p), (gt, gh, gw)


def _sample_specs(world: sw.ShapesWorld, split: str, n: int) -> list:
    """n media specs, cycling over the four sources (two of images, two of clips)."""
    out = []
    for k in range(n):
        task, which = SOURCES[k % len(SOURCES)]
        dr = world._stream(split, task, "candidates")  # the world caches one stream per (split, task, kind)
        prompt = sw.sample_prompt(task, dr)
        out.append(sw.sample_candidate(task, dr, prompt) if which == "candidate" else prompt.media)
    return out


RECOLOUR_IGNORED = ("colour", "end_colour", "count_same")  # colour names mean nothing in a random palette


def random_palette(rng: np.random.Generator, contrast: float = 90.0) -> dict[str, tuple[int, int, int]]:
    """A random RGB for every colour name, anywhere in the RGB cube at least `contrast` from the background.

    The whole cube, because the named colours reach 210-240 in a channel (red, yellow, blue, cyan): a
    palette capped below them (session 3's, at 200) never showed the tower a shape in those colours except
    as the train split pairs them, which is the entanglement the random palette is there to break.
    """
    background = np.asarray(sw.BACKGROUND, dtype=np.float64)
    palette = {}
    for name in COLOURS:
        rgb = rng.integers(0, 256, 3)
        while np.linalg.norm(rgb - background) < contrast:
            rgb = rng.integers(0, 256, 3)
        palette[name] = tuple(int(v) for v in rgb)
    return palette


SHAPE_TARGETS = ("shape", "end_shape")
END_TARGETS = ("end_colour", "end_shape")


def changing_cells(cell_t: dict):
    """Cells whose object looks different at the end of the cell's frames than at their start (a label
    left unlabelled, IGNORE at both ends, compares equal)."""
    return (cell_t["colour"] != 0) & (
        (cell_t["end_colour"] != cell_t["colour"]) | (cell_t["end_shape"] != cell_t["shape"])
    )


def make_batch(
    packer: PixelPacker,
    specs: list,
    cells: int,
    num_frames: int,
    size: int,
    palettes: list | None = None,
    plain_ignored: tuple[str, ...] = (),
):
    """Pixels, grids and targets of `specs`; an item with a palette is drawn in it, colour labels ignored.

    Items without a palette have the `plain_ignored` cell targets ignored instead. Cell targets are flat,
    one per visual token in the tower's output order (a clip of several temporal patches has more).
    """
    import torch

    if num_frames % packer.tps:
        raise ValueError(
            f"vision pre-training needs clips of whole temporal patches: {num_frames} frames is not a "
            f"multiple of temporal_patch_size {packer.tps}"
        )
    pixels, grids, cell_t, glob_t = [], [], {k: [] for k in CELL_TARGETS}, {k: [] for k in GLOBAL_TARGETS}
    for spec, palette in zip(specs, palettes or [None] * len(specs)):
        media = sw.render_media(spec, size, num_frames, palette)
        frames = media if isinstance(media, list) else [media]
        pv, grid = packer.pack(frames)
        pixels.append(pv)
        grids.append(grid)
        c, g = scene_targets(spec, cells, size, num_frames, slots=grid[0])
        for k in RECOLOUR_IGNORED if palette is not None else plain_ignored:
            c[k][c[k] > 0] = IGNORE
        for k in CELL_TARGETS:
            cell_t[k].append(c[k])
        for k in GLOBAL_TARGETS:
            glob_t[k].append(g[k])
    return (
        torch.from_numpy(np.concatenate(pixels)).float(),
        torch.tensor(grids),
        {k: torch.from_numpy(np.concatenate(v)) for k, v in cell_t.items()},
        {k: torch.tensor(v) for k, v in glob_t.items()},
    )


def held_out_mask(colour, shape):
    """Cells whose object is one of the world's held-out colour×shape pairs (labels as from scene_targets)."""
    import torch

    mask = torch.zeros_like(colour, dtype=torch.bool)
    for c, s in sw.HELD_OUT:
        mask |= (colour == COLOURS.index(c) + 1) & (shape == sw.SHAPES.index(s) + 1)
    return mask


class SceneHeads:
    """Linear classifiers on the merged visual tokens (thrown away after pre-training)."""

    def __init__(self, dim: int) -> None:
        import torch

        self.cell = torch.nn.ModuleDict({k: torch.nn.Linear(dim, n) for k, n in CELL_TARGETS.items()})
        self.glob = torch.nn.ModuleDict({k: torch.nn.Linear(dim, n) for k, n in GLOBAL_TARGETS.items()})

    def parameters(self):
        return [*self.cell.parameters(), *self.glob.parameters()]

    def losses_and_hits(
        self, tokens, tokens_per_media: list[int], cell_t: dict, glob_t: dict, changing_weight: float = 1.0
    ):
        """Per-target losses and accuracies; `changing_weight` weighs the cells whose look changes within
        their frames that much more in the end-look losses (a weighted mean, so 1 is the plain mean)."""
        import torch
        import torch.nn.functional as F

        pooled = torch.stack([part.mean(0) for part in tokens.split(tokens_per_media)])
        changing = changing_cells(cell_t) if changing_weight != 1.0 else None  # weighted loss only
        losses, hits = {}, {}
        for k, head in self.cell.items():
            logits = head(tokens)
            target = cell_t[k]
            if changing is not None and k in END_TARGETS:
                each = F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="none")
                weight = (target != IGNORE) * torch.where(changing, changing_weight, 1.0)
                losses[k] = (each * weight).sum() / weight.sum()
            else:
                losses[k] = F.cross_entropy(logits, target, ignore_index=IGNORE)
            occupied = target > 0
            if not occupied.any():
                continue
            hits[k] = (logits.argmax(-1) == target)[occupied].float().mean().item()
        for k, head in self.glob.items():
            logits = head(pooled)
            losses[k] = F.cross_entropy(logits, glob_t[k])
            hits[k] = (logits.argmax(-1) == glob_t[k]).float().mean().item()
        return losses, hits


def pretrain_vision(
    model, image_processor, image_side: int, config: VisionPretrainConfig, curve_path=None
) -> list[dict]:
    """Train `model`'s vision tower in place on dense scene labels; return the held-out curve.

    Each curve point gives, per target, the accuracy on held-out cells covered by an object (or on the
    global label), from the test split (colour×shape pairs never drawn in training).
    """
    import json

    import torch

    from unireward.train.shapes import budget_lr_factor

    visual = model.model.visual
    packer = PixelPacker(image_processor, image_side)
    cells = image_side // (packer.patch * packer.merge)
    dim = model.config.text_config.hidden_size
    torch.manual_seed(config.seed)
    heads = SceneHeads(dim)
    params = [*visual.parameters(), *heads.parameters()]
    opt = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    rng = np.random.default_rng(config.seed)
    train_world = sw.ShapesWorld(config.seed + 1000, config.image_size, config.num_frames)
    test_world = sw.ShapesWorld(config.seed + 2000, config.image_size, config.num_frames)
    test = make_batch(
        packer,
        _sample_specs(test_world, "test", config.eval_n),
        cells,
        config.num_frames,
        config.image_size,
    )

    seen = make_batch(
        packer,
        _sample_specs(train_world, "train", 64),
        cells,
        config.num_frames,
        config.image_size,
    )

    held_out_cells = held_out_mask(test[2]["colour"], test[2]["shape"])
    changing = changing_cells(test[2])

    def per_media(grid) -> list[int]:
        return (grid.prod(-1) // packer.merge**2).tolist()

    def evaluate() -> dict:
        visual.eval()
        with torch.no_grad():
            tokens = visual(test[0], grid_thw=test[1]).pooler_output
            _, hits = heads.losses_and_hits(tokens, per_media(test[1]), test[2], test[3])
            if held_out_cells.any():
                shape = heads.cell["shape"](tokens).argmax(-1)
                hits["shape_held_out"] = (shape == test[2]["shape"])[held_out_cells].float().mean().item()
            if changing.any():  # both end heads right where the look changes within the cell's frames
                right = [heads.cell[k](tokens).argmax(-1) == test[2][k] for k in END_TARGETS]
                hits["end_changed"] = (right[0] & right[1])[changing].float().mean().item()
            tokens = visual(seen[0], grid_thw=seen[1]).pooler_output
            _, train_hits = heads.losses_and_hits(tokens, per_media(seen[1]), seen[2], seen[3])
        visual.train()
        return {**hits, "train_shape": train_hits["shape"], "train_colour": train_hits["colour"]}

    curve: list[dict] = []
    start = time.perf_counter()
    visual.train()
    step, loss_sum, loss_n = 0, 0.0, 0
    while True:
        minutes = (time.perf_counter() - start) / 60
        done = (config.minutes is not None and minutes >= config.minutes) or step >= config.max_steps
        if step % config.eval_every == 0 or done:
            point = {"step": step, "minutes": round(minutes, 2)}
            if loss_n:
                point["train_loss"] = round(loss_sum / loss_n, 4)
                loss_sum, loss_n = 0.0, 0
            point.update({k: round(v, 3) for k, v in evaluate().items()})
            curve.append(point)
            if curve_path is not None:
                with open(curve_path, "a") as fh:
                    fh.write(json.dumps(point) + "\n")
            if config.log:
                print("vision", json.dumps(point), flush=True)
        if done:
            break
        specs = _sample_specs(train_world, "train", config.batch_size)
        palettes = [
            random_palette(rng, config.palette_contrast) if rng.random() < config.recolour_share else None
            for _ in specs
        ]
        plain_ignored = SHAPE_TARGETS if config.shape_from_random_palette_only else ()
        pixels, grid, cell_t, glob_t = make_batch(
            packer, specs, cells, config.num_frames, config.image_size, palettes, plain_ignored
        )
        tokens = visual(pixels, grid_thw=grid).pooler_output
        losses, _ = heads.losses_and_hits(
            tokens, per_media(grid), cell_t, glob_t, config.changing_cell_weight
        )
        loss = sum(config.loss_weights.get(k, 1.0) * v for k, v in losses.items() if not v.isnan())
        loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        if config.lr_decay_share > 0:
            spent, budget = (
                (minutes, config.minutes) if config.minutes is not None else (step, config.max_steps)
            )
            for group in opt.param_groups:
                group["lr"] = config.learning_rate * budget_lr_factor(spent, budget, config.lr_decay_share)
        opt.step()
        step += 1
    visual.eval()
    return curve
